//! SPDX 2.3 JSON (spdx.github.io/spdx-spec/v2.3): a document describing the image,
//! which contains one package per package found, each with its purl.

use serde_json::{json, Value};

use crate::Report;

pub fn spdx(r: &Report) -> Value {
    let image = r.image_name();
    let mut packages = vec![json!({
        "name": image,
        "SPDXID": "SPDXRef-Image",
        "versionInfo": r.image_id.clone().unwrap_or_else(|| "NOASSERTION".into()),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (i, p) in r.inventory.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}-{i}", p.kind.as_str());
        packages.push(json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            // Package managers' license fields are free text, not SPDX expressions.
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "sourceInfo": format!("found by berth in {}", p.location),
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let safe: String = image.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '-' }).collect();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image,
        "documentNamespace": format!("https://berth.invalid/spdx/{safe}-{}", super::uuid(&image)),
        "creationInfo": {
            "created": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "creators": [format!("Tool: berth-{}", super::tool_version())],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
