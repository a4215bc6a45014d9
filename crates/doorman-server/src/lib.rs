//! The service's logic: authentication, authorization, access grants, key custody; no HTTP
