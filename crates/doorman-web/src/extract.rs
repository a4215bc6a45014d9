//! Extractors whose rejections speak the API's error shape, and the
//! authenticated principal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use doorman_domain::Principal;
use doorman_server::Service;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with rejections mapped to [`ApiError`]; the body must be a
/// JSON object (serde would otherwise read a struct from an array, so `[]`
/// would pass for a body whose fields are all optional).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is too large")
            } else {
                ApiError::new(e.status(), "invalid_request", e.body_text())
            }
        })?;
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "the body must be a JSON object",
            ));
        }
        Ok(ApiJson(v))
    }
}

/// `Content-Type: application/json` (or `application/<something>+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `Path<T>` with rejections mapped to [`ApiError`].
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

/// The caller, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Principal);

/// The client's address, for the authentication limiter: the peer's, or,
/// when the peer is one of `trusted` (a reverse proxy), the nearest address
/// in `X-Forwarded-For` that is not itself a trusted proxy. Entries are read
/// from the right (the end the proxies append to), so a client cannot pick
/// its address by sending the header itself; a peer that is not trusted is
/// never believed.
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    forwarded_client(peer, parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()), trusted)
}

fn forwarded_client<'a>(peer: IpAddr, headers: impl Iterator<Item = &'a str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // Garbage where a trusted proxy should have written an address:
            // the last trusted hop is the nearest known client.
            Err(_) => return client,
        }
    }
    client
}

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

impl FromRequestParts<Arc<Service>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Self::Rejection> {
        let token = bearer(parts);
        Ok(Caller(service.authenticate(token, client_ip(parts, &service.config().trusted_proxies)).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 2].into();
        let stranger: IpAddr = [198, 51, 100, 7].into();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let header = "1.2.3.4, 203.0.113.9, 10.0.0.3";
        // Through two trusted hops: the address the first proxy saw.
        assert_eq!(forwarded_client(proxy, [header].into_iter(), &trusted), IpAddr::from([203, 0, 113, 9]));
        // The same header straight from the internet names nobody.
        assert_eq!(forwarded_client(stranger, [header].into_iter(), &trusted), stranger);
        assert_eq!(forwarded_client(proxy, [header].into_iter(), &[]), proxy);
        // No header, or garbage: the proxy itself.
        assert_eq!(forwarded_client(proxy, std::iter::empty(), &trusted), proxy);
        assert_eq!(forwarded_client(proxy, ["nonsense"].into_iter(), &trusted), proxy);
        // Several headers are one list.
        assert_eq!(
            forwarded_client(proxy, ["1.2.3.4", "2001:db8::1"].into_iter(), &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
