//! Query parameters as Docker reads them (`r.Form`): repeated keys kept in order,
//! booleans true unless empty, "0", "no", "false" or "none".

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, empty strings counting as unset.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params, Infallible> {
        Ok(Params::parse(parts.uri.query()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_form_rules() {
        let p = Params::parse(Some("force=1&noprune=false&changes=ENV%20A%3D1&changes=CMD%20sh&q=&x=True"));
        assert!(p.bool("force"));
        assert!(!p.bool("noprune"));
        assert!(!p.bool("q"));
        assert!(!p.bool("missing"));
        assert!(p.bool("x"));
        assert_eq!(p.all("changes"), vec!["ENV A=1", "CMD sh"]);
        assert_eq!(p.non_empty("q"), None);
    }
}
