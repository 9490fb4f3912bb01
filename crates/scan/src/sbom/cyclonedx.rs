//! CycloneDX 1.5 JSON (cyclonedx.org/docs/1.5/json): the image as the described
//! component, its distribution and packages as components, and the findings (when a
//! database was given) as vulnerabilities pointing at them.

use serde_json::{json, Value};

use crate::package::Kind;
use crate::severity::Severity;
use crate::Report;

pub fn cyclonedx(r: &Report) -> Value {
    let image = r.image_name();
    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = &r.inventory.distro {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": "os",
            "name": d.id,
            "version": d.version_id,
            "description": d.pretty_name,
        }));
    }
    for (i, p) in r.inventory.packages.iter().enumerate() {
        let mut c = json!({
            "type": if p.kind == Kind::Go && p.name == "stdlib" { "framework" } else { "library" },
            "bom-ref": format!("pkg-{i}"),
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "properties": [
                {"name": "berth:package:type", "value": p.kind.as_str()},
                {"name": "berth:package:ecosystem", "value": p.ecosystem},
                {"name": "berth:location:0:path", "value": p.location},
            ],
        });
        if let Some(l) = &p.license {
            c["licenses"] = json!([{"license": {"name": l}}]);
        }
        components.push(c);
    }
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", super::uuid(&image)),
        "version": 1,
        "metadata": {
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "tools": {"components": [{"type": "application", "name": "berth", "version": super::tool_version()}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": image,
                "version": r.image_id.clone().unwrap_or_default(),
            },
        },
        "components": components,
    });
    if let Some(findings) = &r.findings {
        let vulns: Vec<Value> = findings
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let target = r.inventory.packages.iter().position(|p| p.name == f.package && p.version == f.installed && p.location == f.location);
                let mut rating = json!({"severity": cdx_severity(f.severity)});
                if let Some(s) = f.score {
                    rating["score"] = json!(s);
                    rating["method"] = json!("CVSSv3");
                }
                let mut v = json!({
                    "bom-ref": format!("vuln-{i}"),
                    "id": f.id,
                    "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", f.id)},
                    "ratings": [rating],
                    "affects": target.map(|t| vec![json!({"ref": format!("pkg-{t}")})]).unwrap_or_default(),
                });
                if let Some(s) = &f.summary {
                    v["description"] = json!(s);
                }
                if !f.fixed.is_empty() {
                    v["recommendation"] = json!(format!("Upgrade {} to {}", f.package, f.fixed.join(" or ")));
                }
                v
            })
            .collect();
        doc["vulnerabilities"] = json!(vulns);
    }
    doc
}

fn cdx_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::None => "none",
        Severity::Unknown => "unknown",
    }
}
