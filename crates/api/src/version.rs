//! API versions: berthd serves 1.41 through 1.50, unversioned paths meaning the newest,
//! as Docker's daemon does.

use std::cmp::Ordering;

/// The newest API version served (and sent in the `API-Version` header).
pub const API_VERSION: &str = "1.50";
/// The oldest API version served.
pub const MIN_API_VERSION: &str = "1.41";

/// Compares dotted version strings numerically (`1.9` < `1.41`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        match pa.get(i).unwrap_or(&0).cmp(pb.get(i).unwrap_or(&0)) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

/// Checks a client's requested version; the error is Docker's 400 message.
pub fn check(requested: &str) -> Result<(), String> {
    if compare(requested, MIN_API_VERSION) == Ordering::Less {
        return Err(format!(
            "client version {requested} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    if compare(requested, API_VERSION) == Ordering::Greater {
        return Err(format!("client version {requested} is too new. Maximum supported API version is {API_VERSION}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range() {
        assert!(check("1.41").is_ok());
        assert!(check("1.50").is_ok());
        assert!(check("1.45").is_ok());
        assert!(check("1.40").unwrap_err().contains("too old"));
        assert!(check("1.51").unwrap_err().contains("too new"));
        assert!(check("2.0").is_err());
        assert_eq!(compare("1.9", "1.41"), Ordering::Less);
    }
}
