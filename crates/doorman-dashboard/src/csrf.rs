//! Cross-site request forgery: the session cookie is `SameSite=Lax`, and on
//! top of that every state-changing request must show it comes from this
//! site. Browsers send `Origin` on every cross-origin request and on every
//! POST; a page cannot forge it. Without `Origin` (old browsers), the
//! `Referer`'s origin stands in; with neither, the request is refused.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::DashState;

pub(crate) async fn same_origin_only(State(dash): State<DashState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    // RFC 8058 one-click unsubscribe: mail clients POST from no origin. It
    // can only turn off the one notification its unguessable token names.
    if one_click_unsubscribe(request.uri().path()) {
        return next.run(request).await;
    }
    match check(request.headers(), dash.config.public_url.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            tracing::info!(method = %request.method(), path = %request.uri().path(), why, "cross-site request refused");
            crate::pages::error_page(StatusCode::FORBIDDEN, "cross_site_request", why).into_response()
        }
    }
}

/// An unsubscribe link's path: the prefix, then one segment (the token).
fn one_click_unsubscribe(path: &str) -> bool {
    path.strip_prefix(crate::email_link::UNSUBSCRIBE_PREFIX).is_some_and(|t| !t.is_empty() && !t.contains('/'))
}

/// Ok if the request's origin is this site's.
pub(crate) fn check(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), &'static str> {
    let origin = match headers.get(header::ORIGIN) {
        Some(v) => v.to_str().map_err(|_| "the Origin header is not text")?.to_string(),
        None => {
            let referer = headers
                .get(header::REFERER)
                .ok_or("neither Origin nor Referer: the request cannot show it comes from this site")?
                .to_str()
                .map_err(|_| "the Referer header is not text")?;
            origin_of(referer).ok_or("the Referer is not an http(s) URL")?
        }
    };
    if origin == "null" {
        return Err("the request comes from an opaque origin");
    }
    let ours = match public_url {
        Some(url) => origin == url,
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or("no Host header")?;
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
    };
    if ours {
        Ok(())
    } else {
        Err("the request comes from another site")
    }
}

/// `scheme://host[:port]` of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn same_host_origin_passes_and_others_fail() {
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(check(&headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8080")]), None).is_ok());
        assert!(check(&headers(&[host.clone(), (header::ORIGIN, "http://evil.example")]), None).is_err());
        assert!(check(&headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8081")]), None).is_err());
        assert!(check(&headers(&[host.clone(), (header::ORIGIN, "null")]), None).is_err());
        assert!(check(&headers(std::slice::from_ref(&host)), None).is_err());
        // Referer fallback, by origin only.
        assert!(check(&headers(&[host.clone(), (header::REFERER, "http://127.0.0.1:8080/app/resident")]), None).is_ok());
        assert!(
            check(&headers(&[host.clone(), (header::REFERER, "http://127.0.0.1:8080.evil.example/")]), None).is_err()
        );
        // An Origin that disagrees wins over a Referer that agrees.
        assert!(check(
            &headers(&[
                host,
                (header::ORIGIN, "https://evil.example"),
                (header::REFERER, "http://127.0.0.1:8080/app/")
            ]),
            None
        )
        .is_err());
    }

    #[test]
    fn only_unsubscribe_links_skip_the_check() {
        assert!(one_click_unsubscribe("/app/unsubscribe/abc"));
        for path in ["/app/unsubscribe/", "/app/unsubscribe/a/b", "/app/resident/block", "/app/unsubscribe"] {
            assert!(!one_click_unsubscribe(path), "{path}");
        }
    }

    #[test]
    fn a_configured_public_url_is_the_only_origin() {
        let public = Some("https://doors.example");
        let h = headers(&[(header::HOST, "doors.example"), (header::ORIGIN, "http://doors.example")]);
        assert!(check(&h, public).is_err());
        let h = headers(&[(header::HOST, "internal:8080"), (header::ORIGIN, "https://doors.example")]);
        assert!(check(&h, public).is_ok());
    }
}
