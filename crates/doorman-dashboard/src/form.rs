//! Forms: what was posted, read by field name, and what a page needs to
//! show a form again after the service refused it (the values typed, the
//! message and code of the error, which form it was).

use axum::http::StatusCode;
use doorman_server::ServiceError;
use doorman_web::error::ApiError;

/// The posted fields, in order (a checkbox group repeats its name).
#[derive(Clone, Debug, Default)]
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; empty when absent.
    pub(crate) fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
    }

    /// Every value of `name`, trimmed.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).collect()
    }

    pub(crate) fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The value of `name` parsed as an id; `what` names the field in the error.
    pub(crate) fn id<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<T, ServiceError> {
        self.get(name).parse().map_err(|_| ServiceError::invalid(format!("{what}: pick one from the list")))
    }

    /// As [`Fields::id`], none when the field is empty.
    pub(crate) fn optional_id<T: std::str::FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, ServiceError> {
        match self.get(name).as_str() {
            "" => Ok(None),
            _ => self.id(name, what).map(Some),
        }
    }
}

/// A form shown again: which one failed (empty when none), why, and what
/// was typed into it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Typed {
    pub form: String,
    pub code: String,
    pub message: String,
    pub status: u16,
    fields: Fields,
}

impl Typed {
    /// Nothing failed: every form shows its defaults.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// The form `form` failed with `e`; `fields` are shown again.
    pub(crate) fn failed(form: &str, fields: Fields, e: ServiceError) -> Self {
        let api = ApiError::from(e);
        Self { form: form.into(), code: api.code, message: api.message, status: api.status.as_u16(), fields }
    }

    /// Form `form` starts from `fields` (changing what is stored).
    pub(crate) fn prefilled(form: &str, fields: Fields) -> Self {
        Self { form: form.into(), status: 200, fields, ..Self::default() }
    }

    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK)
    }

    /// Did `form` fail?
    pub(crate) fn is(&self, form: impl AsRef<str>) -> bool {
        self.form == form.as_ref()
    }

    /// What was typed into `name` of `form`, or `default` when that form
    /// did not fail.
    pub(crate) fn v(&self, form: impl AsRef<str>, name: &str, default: &str) -> String {
        if self.is(form) {
            self.fields.get(name)
        } else {
            default.to_string()
        }
    }

    /// Was `value` chosen for `name` of `form` (a select's option, a
    /// checkbox)? `default` when that form did not fail.
    pub(crate) fn chose(
        &self,
        form: impl AsRef<str>,
        name: &str,
        value: &str,
        default: impl std::borrow::Borrow<bool>,
    ) -> bool {
        if self.is(form) {
            self.fields.0.iter().any(|(k, v)| k == name && v.trim() == value)
        } else {
            *default.borrow()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_form_keeps_what_was_typed_and_only_there() {
        let fields = Fields(vec![
            ("name".into(), " Lobby door ".into()),
            ("day".into(), "mon".into()),
            ("day".into(), "sun".into()),
        ]);
        let typed = Typed::failed("door", fields, ServiceError::invalid("name: too long"));
        assert_eq!(typed.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!((typed.code.as_str(), typed.message.as_str()), ("invalid_request", "name: too long"));
        assert_eq!(typed.v("door", "name", "x"), "Lobby door");
        assert_eq!(typed.v("unit", "name", "x"), "x", "another form shows its default");
        assert!(typed.chose("door", "day", "sun", false));
        assert!(!typed.chose("door", "day", "tue", true));
        assert!(Typed::none().chose("door", "day", "tue", true));
    }
}
