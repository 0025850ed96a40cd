//! The checked-in JSON Schemas under `proto/schemas/` must match the code.
//! Regenerate with `FERRY_UPDATE_SCHEMAS=1 cargo nextest run -p ferry-proto --test schemas`.

use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

#[test]
fn checked_in_schemas_match_the_code() {
    let update = std::env::var_os("FERRY_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let dir = dir();
    let mut drift = Vec::new();
    let generated = ferry_proto::schema::all();
    for (name, schema) in &generated {
        let path = dir.join(name);
        let want = ferry_proto::schema::render(schema);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if update {
                std::fs::create_dir_all(&dir).expect("create schemas dir");
                std::fs::write(&path, &want).expect("write schema");
            } else {
                let line = have
                    .lines()
                    .zip(want.lines())
                    .position(|(a, b)| a != b)
                    .map_or_else(
                        || "length differs".to_owned(),
                        |i| format!("first difference at line {}", i + 1),
                    );
                drift.push(format!("{name}: {line}"));
            }
        }
    }
    // Files that no longer correspond to a message.
    let known: Vec<&str> = generated.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(&dir).expect("read schemas dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") && !known.contains(&name.as_str()) {
            if update {
                std::fs::remove_file(entry.path()).expect("remove stale schema");
            } else {
                drift.push(format!("{name}: stale file, no message generates it"));
            }
        }
    }
    assert!(
        drift.is_empty(),
        "JSON Schemas in proto/schemas/ differ from the code:\n  {}\n\
         If the change is intended, run:\n  FERRY_UPDATE_SCHEMAS=1 cargo nextest run -p ferry-proto --test schemas\n\
         and commit the result (a schema change may need a SCHEMA_VERSION bump).",
        drift.join("\n  ")
    );
}

#[test]
fn one_schema_per_catalogue_entry() {
    let all = ferry_proto::schema::all();
    assert_eq!(all.len(), ferry_proto::CATALOGUE.len() + 1);
    for spec in ferry_proto::CATALOGUE {
        let (_, schema) = all
            .iter()
            .find(|(n, _)| *n == spec.schema_file_name())
            .unwrap_or_else(|| panic!("no schema for {}", spec.message_type));
        assert_eq!(
            schema["properties"]["message_type"]["const"], spec.message_type,
            "message_type pinned"
        );
        assert_eq!(
            schema["properties"]["schema_version"]["const"],
            spec.schema_version
        );
        assert!(schema["properties"]["payload"].is_object());
    }
}
