//! The registry client against Debian's docker-registry on loopback.

mod common;

use berth_image::platform::Platform;
use berth_image::{Digest, Reference};
use berth_registry::{BlobSources, Credentials, Error, PullOptions, PushOptions, Registry, RegistryOptions};
use common::*;

/// The layer digests of a manifest as the registry serves it.
fn pushed_layers(reg: &TestRegistry, repo: &str, tag: &str) -> Vec<Digest> {
    let m: serde_json::Value = serde_json::from_reader(
        ureq::get(&format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr)).header("Accept", "application/vnd.oci.image.manifest.v1+json").call().unwrap().into_body().into_reader(),
    )
    .unwrap();
    m["layers"].as_array().unwrap().iter().map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap()).collect()
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic { username: user.into(), password: password.into() }
}

#[test]
fn push_then_pull_into_a_fresh_store_by_tag_and_digest() {
    let reg = TestRegistry::start(Auth::None);
    let src_dir = tempfile::tempdir().unwrap();
    let src = open_store(src_dir.path());
    let layers = [layer_tar(&[("etc/base", b"base layer\n".to_vec())]), layer_tar(&[("app/data", noise(1, 300_000))])];
    let target = reg.reference("team/app:1");
    let (id, local_manifest) = make_image(&src, &target.to_string(), &layers, "amd64");
    // As berthd has it: remembering what each plain layer gzipped to.
    let client = Registry::new(RegistryOptions::default()).with_blob_sources(BlobSources::new(src_dir.path().join("sources")));

    let progress = Collected::default();
    let pushed = client.push(&src, &target, &PushOptions::default(), &progress.sink()).unwrap();
    // The plain tar layers went gzipped, as Docker sends them; the config is the same.
    let remote: serde_json::Value = serde_json::from_reader(
        ureq::get(&format!("http://{}/v2/team/app/manifests/1", reg.addr)).header("Accept", "application/vnd.oci.image.manifest.v1+json").call().unwrap().into_body().into_reader(),
    )
    .unwrap();
    let local: serde_json::Value = serde_json::from_slice(&local_manifest).unwrap();
    assert_eq!(remote["config"], local["config"]);
    for (i, l) in remote["layers"].as_array().unwrap().iter().enumerate() {
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
        let blob = ureq::get(&format!("http://{}/v2/team/app/blobs/{}", reg.addr, l["digest"].as_str().unwrap())).call().unwrap().into_body().read_to_vec().unwrap();
        assert_eq!(blob.len() as u64, l["size"].as_u64().unwrap());
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut plain).unwrap();
        assert_eq!(plain, layers[i], "layer {i} gunzips to the local tar");
    }
    assert!(progress.has(&format!("1: digest: {} size: {}", pushed.digest, pushed.size)), "{:?}", progress.statuses());
    assert!(progress.has("Pushed"));
    assert_eq!(progress.statuses()[0], format!("The push refers to repository [{}]", target.repository().name()));
    let aux = progress.0.lock().unwrap().iter().find_map(|p| p.aux.clone()).expect("aux line");
    assert_eq!(aux["Digest"], pushed.digest.to_string());

    // Pushing again sends nothing and compresses nothing: what each layer became is known.
    let again = Collected::default();
    let pushed2 = client.push(&src, &target, &PushOptions::default(), &again.sink()).unwrap();
    assert_eq!(pushed2.digest, pushed.digest);
    assert!(again.has("Layer already exists") && !again.has("Pushed") && !again.has("Pushing"), "{:?}", again.statuses());

    let dst_dir = tempfile::tempdir().unwrap();
    let dst = open_store(dst_dir.path());
    let pulled_progress = Collected::default();
    let pulled = client.pull(&dst, &target, &PullOptions::default(), &pulled_progress.sink()).unwrap();
    assert_eq!(pulled.image_id, id);
    assert_eq!(pulled.digest, pushed.digest);
    assert!(!pulled.up_to_date);
    let s = pulled_progress.statuses();
    for want in ["Pulling from team/app", "Pulling fs layer", "Downloading", "Download complete", "Pull complete"] {
        assert!(s.iter().any(|x| x == want), "{want} missing in {s:?}");
    }
    assert!(s.contains(&format!("Digest: {}", pushed.digest)));
    assert!(s.contains(&format!("Status: Downloaded newer image for {}", target.familiar())));
    assert_eq!(dst.resolve(&target.to_string()).unwrap(), id);
    dst.check(true).unwrap();
    let rec = dst.get(&id).unwrap();
    assert_eq!(rec.chain_ids.len(), 2);
    assert!(rec.repo_digests.iter().any(|d| d.ends_with(&pushed.digest.to_string())));
    let data = std::fs::read(dst.layers().diff_dir(&rec.chain_ids[1]).join("app/data")).unwrap();
    assert_eq!(data, noise(1, 300_000));

    // Pulling again is a no-op; by digest into a third store works too.
    let up = Collected::default();
    assert!(client.pull(&dst, &target, &PullOptions::default(), &up.sink()).unwrap().up_to_date);
    assert!(up.has(&format!("Status: Image is up to date for {}", target.familiar())));
    let third_dir = tempfile::tempdir().unwrap();
    let third = open_store(third_dir.path());
    let by_digest = target.repository().with_digest(pushed.digest.clone());
    let p = client.pull(&third, &by_digest, &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(p.image_id, id);
    assert_eq!(third.resolve(&by_digest.to_string()).unwrap(), id);
    assert!(third.get(&id).unwrap().repo_tags.is_empty(), "a digest pull tags nothing");
    // A pulled image goes back as it came: its gzip blobs as they are, same manifest.
    third.tag(&id.to_string(), &reg.reference("team/copy:1").to_string()).unwrap();
    let copied = client.push(&third, &reg.reference("team/copy:1"), &PushOptions::default(), &|_| {}).unwrap();
    assert_eq!(copied.digest, pushed.digest);
    assert!(std::fs::read_dir(third_dir.path().join("layers")).map(|d| d.flatten().all(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))).unwrap_or(true));

    // Remote inspection.
    let info = client.distribution(&target, Credentials::Anonymous).unwrap();
    assert_eq!(info.digest, pushed.digest);
    assert_eq!(info.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(client.manifest_digest(&target, Credentials::Anonymous).unwrap(), Some(pushed.digest.clone()));
    assert_eq!(client.manifest_digest(&reg.reference("team/app:nope"), Credentials::Anonymous).unwrap(), None);
}

#[test]
fn chunked_upload_and_cross_repository_mount() {
    let reg = TestRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let sources = BlobSources::new(dir.path().join("sources"));
    // 64 KiB chunks: the 200 KB layer goes up in PATCHes.
    let opts = RegistryOptions { upload_chunk_size: 64 << 10, ..Default::default() };
    let client = Registry::new(opts).with_blob_sources(sources.clone());
    let a = reg.reference("one/a:1");
    let (id, _) = make_image(&store, &a.to_string(), &[layer_tar(&[("big", noise(7, 200_000))])], "amd64");
    let progress = Collected::default();
    client.push(&store, &a, &PushOptions::default(), &progress.sink()).unwrap();
    let pushing = progress.0.lock().unwrap().iter().filter(|p| p.status == "Pushing").count();
    assert!(pushing >= 4, "chunk progress lines: {pushing}");

    let b = reg.reference("two/b:1");
    store.tag(&id.to_string(), &b.to_string()).unwrap();
    let progress = Collected::default();
    client.push(&store, &b, &PushOptions::default(), &progress.sink()).unwrap();
    assert!(progress.has("Mounted from one/a"), "{:?}", progress.statuses());
    assert!(!progress.has("Pushed"));

    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    assert_eq!(client.pull(&fresh, &b, &PullOptions::default(), &|_| {}).unwrap().image_id, id);
}

#[test]
fn basic_auth_with_htpasswd() {
    let reg = TestRegistry::start(Auth::Htpasswd { user: "alice".into(), password: "s3cret".into() });
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let target = reg.reference("private/app:1");
    make_image(&store, &target.to_string(), &[layer_tar(&[("f", b"x".to_vec())])], "amd64");
    let client = client();

    assert!(client.login(&reg.addr, basic("alice", "s3cret")).is_ok());
    let e = client.login(&reg.addr, basic("alice", "wrong")).unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
    let e = client.push(&store, &target, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
    assert_eq!(e.to_string(), "no basic auth credentials");
    let e = client.push(&store, &target, &PushOptions { credentials: basic("alice", "nope") }, &|_| {}).unwrap_err();
    assert!(e.is_unauthorized() && e.to_string().contains("unauthorized"), "{e}");

    client.push(&store, &target, &PushOptions { credentials: basic("alice", "s3cret") }, &|_| {}).unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    assert!(client.pull(&fresh, &target, &PullOptions::default(), &|_| {}).unwrap_err().is_unauthorized());
    client.pull(&fresh, &target, &PullOptions { credentials: basic("alice", "s3cret"), ..Default::default() }, &|_| {}).unwrap();
}

#[test]
fn bearer_token_auth_with_scopes() {
    let tokens = TokenServer::start("bob", "hunter2");
    let reg = TestRegistry::start(Auth::Token {
        realm: tokens.realm.clone(),
        service: TokenServer::SERVICE.into(),
        issuer: TokenServer::ISSUER.into(),
        cert: tokens.cert.clone(),
    });
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let target = reg.reference("tok/app:v1");
    let (id, _) = make_image(&store, &target.to_string(), &[layer_tar(&[("f", noise(3, 5000))])], "amd64");
    let client = client();
    let creds = basic("bob", "hunter2");

    assert!(client.login(&reg.addr, creds.clone()).is_ok());
    let e = client.login(&reg.addr, basic("bob", "bad")).unwrap_err();
    assert!(e.is_unauthorized() && e.to_string().contains("bad test credentials"), "{e}");

    client.push(&store, &target, &PushOptions { credentials: creds.clone() }, &|_| {}).unwrap();
    assert!(tokens.scopes.lock().unwrap().contains(&"repository:tok/app:pull,push".to_string()), "{:?}", tokens.scopes.lock().unwrap());
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    let p = client.pull(&fresh, &target, &PullOptions { credentials: creds, ..Default::default() }, &|_| {}).unwrap();
    assert_eq!(p.image_id, id);
    assert!(tokens.scopes.lock().unwrap().contains(&"repository:tok/app:pull".to_string()));
    // Anonymous: the token server refuses us.
    let other_dir = tempfile::tempdir().unwrap();
    let e = client.pull(&open_store(other_dir.path()), &target, &PullOptions::default(), &|_| {}).unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
}

#[test]
fn broken_blob_download_resumes_with_range() {
    let reg = TestRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let target = reg.reference("resume/app:1");
    let (id, _) = make_image(&store, &target.to_string(), &[layer_tar(&[("big", noise(9, 1_000_000))])], "amd64");
    client().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap();

    let proxy = BreakingProxy::start(reg.addr.clone(), 100_000);
    let via_proxy = Reference::parse(&format!("{}/resume/app:1", proxy.addr)).unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    let p = client().pull(&fresh, &via_proxy, &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(p.image_id, id);
    let ranges = proxy.ranges.lock().unwrap().clone();
    assert!(ranges.iter().any(|r| r.starts_with("bytes=") && r != "bytes=0-"), "no resume Range seen: {ranges:?}");
    fresh.check(true).unwrap();
}

#[test]
fn index_pull_selects_the_platform() {
    let reg = TestRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let client = client();
    let mut entries = Vec::new();
    let mut ids = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8")), ("s390x", None)] {
        let r = reg.reference(&format!("multi/app:{arch}"));
        let (id, _) = make_image(&store, &r.to_string(), &[layer_tar(&[("arch", arch.as_bytes().to_vec())])], arch);
        let pushed = client.push(&store, &r, &PushOptions::default(), &|_| {}).unwrap();
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        entries.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": pushed.digest.to_string(), "size": pushed.size, "platform": platform}));
        ids.push(id);
    }
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})).unwrap();
    let resp = ureq::put(&format!("http://{}/v2/multi/app/manifests/latest", reg.addr))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .send(&index[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let index_digest = Digest::sha256_of(&index);

    let latest = reg.reference("multi/app");
    for (platform, want) in [(None, 0), (Some("linux/arm64"), 1), (Some("linux/s390x"), 2)] {
        let d = tempfile::tempdir().unwrap();
        let s = open_store(d.path());
        let opts = PullOptions { platform: platform.map(|p| Platform::parse(p).unwrap()), ..Default::default() };
        let p = client.pull(&s, &latest, &opts, &|_| {}).unwrap();
        assert_eq!(p.image_id, ids[want], "platform {platform:?}");
        assert_eq!(p.digest, index_digest, "the repo digest is the index's");
    }
    let info = client.distribution(&latest, Credentials::Anonymous).unwrap();
    assert_eq!(info.platforms.len(), 3);
    let d = tempfile::tempdir().unwrap();
    let s = open_store(d.path());
    let e = client.pull(&s, &latest, &PullOptions { platform: Some(Platform::parse("linux/ppc64le").unwrap()), ..Default::default() }, &|_| {}).unwrap_err();
    assert!(e.is_bad_request(), "{e}");
    assert_eq!(e.to_string(), "no matching manifest for linux/ppc64le in the manifest list entries");
    assert!(s.list(&Default::default()).unwrap().is_empty());
}

#[test]
fn bad_input_gives_clear_errors_and_no_partial_image() {
    let reg = TestRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let client = client();

    assert!(Reference::parse("Bad/UPPER:tag").is_err());
    let e = client.pull(&store, &reg.reference("nothing/here:1"), &PullOptions::default(), &|_| {}).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.to_string(), format!("manifest for {}/nothing/here:1 not found: manifest unknown: manifest unknown", reg.addr));

    // A registry that serves a layer whose bytes do not match its digest.
    let target = reg.reference("corrupt/app:1");
    let layer = layer_tar(&[("f", noise(5, 50_000))]);
    make_image(&store, &target.to_string(), std::slice::from_ref(&layer), "amd64");
    client.push(&store, &target, &PushOptions::default(), &|_| {}).unwrap();
    let layer_digest = pushed_layers(&reg, "corrupt/app", "1")[0].clone();
    let mut bad = std::fs::read(reg.blob_data(&layer_digest)).unwrap();
    bad[1000] ^= 0xff;
    std::fs::write(reg.blob_data(&layer_digest), &bad).unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    let e = client.pull(&fresh, &target, &PullOptions::default(), &|_| {}).unwrap_err();
    assert!(matches!(e, Error::Image(berth_image::Error::DigestMismatch { .. })), "{e}");
    assert!(e.to_string().contains(&layer_digest.to_string()), "{e}");
    assert!(fresh.list(&Default::default()).unwrap().is_empty(), "no image recorded");
    assert!(!fresh.content().has(&layer_digest), "no unverified blob kept");
    assert!(fresh.resolve(&target.to_string()).is_err());
    fresh.check(true).unwrap();

    // Nobody listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = client.pull(&fresh, &Reference::parse(&format!("{dead}/x:1")).unwrap(), &PullOptions::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains(&dead.to_string()), "{e}");
}

/// A veth pair of the test's own with a private address on one end, so that the registry
/// is reached at an address that is not loopback (loopback registries are insecure: TLS
/// unverified). Traffic to a local address stays on the host.
struct DummyLink {
    name: String,
    ip: String,
}

impl DummyLink {
    fn add() -> DummyLink {
        let n = std::process::id() % 10_000;
        let name = format!("brt{n}");
        let ip = format!("10.254.{}.{}", n / 250 % 250, n % 250 + 1);
        let run = |args: &[&str]| {
            let st = std::process::Command::new("ip").args(args).status().expect("ip (iproute2)");
            assert!(st.success(), "ip {args:?}");
        };
        run(&["link", "add", &name, "type", "veth", "peer", "name", &format!("{name}p")]);
        let link = DummyLink { name, ip };
        run(&["addr", "add", &format!("{}/32", link.ip), "dev", &link.name]);
        run(&["link", "set", &link.name, "up"]);
        link
    }
}

impl Drop for DummyLink {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.name]).status();
    }
}

/// A CA; a server certificate for `ip` and a client certificate, both signed by it.
fn make_certs(dir: &std::path::Path, ip: &str) {
    let script = format!(
        r#"set -e
req() {{ openssl req "$@" 2>/dev/null; }}
req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for who in server client; do
  req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $who-key.pem -out $who.csr -subj /CN=$who
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $who.pem -days 2 -extfile $who.ext 2>/dev/null
done
"#
    );
    let st = std::process::Command::new("bash").arg("-c").arg(script).current_dir(dir).status().expect("bash");
    assert!(st.success(), "making certificates with openssl failed");
}

#[test]
fn tls_with_a_ca_and_client_certificate_from_certs_d() {
    let link = DummyLink::add();
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path(), &link.ip);
    let p = |f: &str| certs.path().join(f).display().to_string();
    // The registry demands a client certificate the test CA signed.
    let tls = format!("  tls:\n    certificate: {}\n    key: {}\n    clientcas:\n      - {}\n", p("server.pem"), p("server-key.pem"), p("ca.pem"));
    let reg = TestRegistry::start_on(&link.ip, Auth::None, &tls);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let target = reg.reference("tls/app:1");
    let (id, _) = make_image(&store, &target.to_string(), &[layer_tar(&[("f", noise(4, 20_000))])], "amd64");
    let certs_d = dir.path().join("certs.d");
    let host_dir = certs_d.join(&reg.addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    let with_certs_d = || Registry::new(RegistryOptions { certs_dir: Some(certs_d.clone()), ..Default::default() });

    // Not loopback, not listed insecure: the server's certificate must verify.
    let e = with_certs_d().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains(&reg.addr) && e.to_string().to_lowercase().contains("certificate"), "{e}");

    // The CA in certs.d: the server verifies, but we have no client certificate yet.
    std::fs::copy(p("ca.pem"), host_dir.join("ca.crt")).unwrap();
    let e = with_certs_d().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains(&reg.addr), "{e}");

    // A key without its certificate is named.
    std::fs::copy(p("client-key.pem"), host_dir.join("client.key")).unwrap();
    let e = with_certs_d().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap_err();
    assert!(e.to_string().contains("missing client certificate client.cert"), "{e}");

    // The whole layout: push and pull.
    std::fs::copy(p("client.pem"), host_dir.join("client.cert")).unwrap();
    with_certs_d().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    assert_eq!(with_certs_d().pull(&fresh, &target, &PullOptions::default(), &|_| {}).unwrap().image_id, id);

    // Listed insecure, the CA is not needed (verification is off), the client cert still is.
    std::fs::remove_file(host_dir.join("ca.crt")).unwrap();
    let insecure = Registry::new(RegistryOptions { certs_dir: Some(certs_d.clone()), insecure_registries: vec![reg.addr.clone()], ..Default::default() });
    let other_dir = tempfile::tempdir().unwrap();
    assert_eq!(insecure.pull(&open_store(other_dir.path()), &target, &PullOptions::default(), &|_| {}).unwrap().image_id, id);
}

#[test]
fn skopeo_copies_what_berth_pushed_and_berth_pulls_what_skopeo_pushed() {
    let reg = TestRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let layers = [layer_tar(&[("etc/one", b"one\n".to_vec())]), layer_tar(&[("opt/two", noise(2, 100_000))])];
    let target = reg.reference("interop/berth:1");
    let (id, _) = make_image(&store, &target.to_string(), &layers, "amd64");
    client().push(&store, &target, &PushOptions::default(), &|_| {}).unwrap();

    // skopeo reads berth's push into an OCI layout, with the same config (image id).
    let layout = dir.path().join("layout");
    let skopeo = |args: &[&str]| {
        let out = std::process::Command::new("skopeo").args(args).output().expect("skopeo (apt-get install skopeo)");
        assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    skopeo(&["copy", "-q", "--src-tls-verify=false", &format!("docker://{target}"), &format!("oci:{}:copy", layout.display())]);
    let inspect: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", "--config", &format!("oci:{}:copy", layout.display())])).unwrap();
    let diffs: Vec<String> = inspect["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
    assert_eq!(diffs, layers.iter().map(|l| Digest::sha256_of(l).to_string()).collect::<Vec<_>>());

    // skopeo pushes that layout under another name (its own manifest); berth pulls it.
    let theirs = reg.reference("interop/skopeo:1");
    skopeo(&["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:copy", layout.display()), &format!("docker://{theirs}")]);
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = open_store(fresh_dir.path());
    let p = client().pull(&fresh, &theirs, &PullOptions::default(), &|_| {}).unwrap();
    assert_eq!(p.image_id, id);
    fresh.check(true).unwrap();
    let rec = fresh.get(&id).unwrap();
    assert_eq!(std::fs::read(fresh.layers().diff_dir(&rec.chain_ids[1]).join("opt/two")).unwrap(), noise(2, 100_000));
}
