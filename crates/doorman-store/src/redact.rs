//! Connection strings carry passwords; nothing this crate prints (Debug
//! output, error text) may show one.

/// Where the password sits in `scheme://user:password@host/...`, if any.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = url.get(authority_start..)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_len)?;
    let userinfo = authority.get(..authority.rfind('@')?)?;
    let colon = userinfo.find(':')?;
    let start = authority_start + colon + 1;
    let end = authority_start + userinfo.len();
    (end > start).then_some((start, end))
}

/// The URL with its password (if any) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}***{}", url.get(..start).unwrap_or(""), url.get(end..).unwrap_or("")),
        None => url.to_string(),
    }
}

/// `text` with every occurrence of `url` and of its password removed.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut text = text.replace(url, &redact_url(url));
    if let Some(password) = password_span(url).and_then(|(start, end)| url.get(start..end)) {
        text = text.replace(password, "***");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_replaced_and_the_rest_kept() {
        assert_eq!(redact_url("postgres://root:s3cret@db:5432/test"), "postgres://root:***@db:5432/test");
        assert_eq!(redact_url("postgresql://u:p%40ss@h/d?sslmode=disable"), "postgresql://u:***@h/d?sslmode=disable");
        // an '@' in the password (unencoded) is still inside the userinfo
        assert_eq!(redact_url("postgres://u:a@b@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact_url("postgres://root@127.0.0.1:5432/test"), "postgres://root@127.0.0.1:5432/test");
        assert_eq!(redact_url("postgres://root:@h/d"), "postgres://root:@h/d");
        assert_eq!(redact_url("sqlite:///var/lib/doorman.db"), "sqlite:///var/lib/doorman.db");
        assert_eq!(redact_url("/tmp/a:b@c.db"), "/tmp/a:b@c.db");
    }

    #[test]
    fn scrub_removes_the_url_and_the_bare_password() {
        let url = "postgres://root:hunter2@db/test";
        let text = format!("cannot reach {url}; password hunter2 refused");
        let clean = scrub(&text, url);
        assert!(!clean.contains("hunter2"), "{clean}");
        assert!(clean.contains("postgres://root:***@db/test"), "{clean}");
    }
}
