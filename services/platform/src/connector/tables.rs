//! What every connector's tables share: created from their entities unless they exist (every
//! connector of an embedded process runs the kit's migrations), dropped by name, and rows
//! written whole ("insert or replace" on their primary key).

use sea_orm::sea_query::{Index, OnConflict, TableCreateStatement};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable,
    PrimaryKeyToColumn,
};
use sea_orm_migration::prelude::SchemaManager;

/// Creates each table unless it exists.
pub async fn create_tables(
    manager: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = TableCreateStatement>,
) -> Result<(), DbErr> {
    for mut table in tables {
        manager
            .create_table(table.if_not_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Drops each table that exists.
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    for table in tables {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await?;
    }
    Ok(())
}

/// Writes `row` whole: inserted, or every column but the key replaced.
pub async fn replace<A, C>(db: &C, row: A) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    C: ConnectionTrait,
{
    replace_all(db, [row]).await
}

/// Writes `rows` whole, in one statement (none: no statement).
pub async fn replace_all<A, C>(db: &C, rows: impl IntoIterator<Item = A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    C: ConnectionTrait,
{
    let rows: Vec<A> = rows.into_iter().map(ActiveModelTrait::reset_all).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let key: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::PrimaryKey::iter()
            .map(|k| k.into_column())
            .collect();
    let rest: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| !key.iter().any(|k| k.as_str() == c.as_str()))
        .collect();
    <A::Entity as EntityTrait>::insert_many(rows)
        .on_conflict(OnConflict::columns(key).update_columns(rest).to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Creates index `name` of `entity`'s table on `columns` unless it exists.
pub async fn create_index<E: EntityTrait>(
    manager: &SchemaManager<'_>,
    name: &str,
    entity: E,
    columns: impl IntoIterator<Item = E::Column>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(entity);
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}
