//! AMQP topic pattern matching (`*` is one word, `#` is zero or more words), used by the
//! in-process bus to route exactly as RabbitMQ does.

/// Whether `routing_key` matches the topic `pattern`.
pub fn matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches_words(&pattern, &key)
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| matches_words(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && matches_words(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && matches_words(rest, &key[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn words_and_wildcards() {
        assert!(matches(
            "mailchimp.customer.observed",
            "mailchimp.customer.observed"
        ));
        assert!(!matches(
            "mailchimp.customer.observed",
            "mailchimp.customer.upsert"
        ));
        assert!(matches(
            "*.customer.observed",
            "mpluskassa.customer.observed"
        ));
        assert!(!matches("*.observed", "mpluskassa.customer.observed"));
        assert!(matches("#", "a.b.c"));
        assert!(matches("#", ""));
        assert!(matches("mailchimp.#", "mailchimp.order.find"));
        assert!(matches("mailchimp.#", "mailchimp"));
        assert!(matches("#.failed", "mpluskassa.order.failed"));
        assert!(matches("a.#.z", "a.z"));
        assert!(matches("a.#.z", "a.b.c.z"));
        assert!(!matches("a.#.z", "a.b.c"));
        assert!(!matches("a.*", "a"));
    }
}
