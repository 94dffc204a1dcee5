use super::*;
use crate::resolve::lockfile::tests::sample;

fn installed(source: Option<(&str, &str)>, copyright: &str) -> Installed {
    Installed {
        source: source.map(|(n, v)| (n.to_string(), v.to_string())),
        declared: dep5::declared(copyright),
    }
}

/// The sample lock (`zsh`, then `bash`: not sorted) with what its guest
/// says of each.
fn document_of(sde: i64) -> (Document, serde_json::Value) {
    let mut lock = sample();
    lock.packages[0].version = "1:5.9+dfsg-1".into();
    let infos = [
        installed(
            Some(("zsh", "5.9-1")),
            "Format: x\n\nFiles: *\nLicense: MIT-like\n Free.\n\n\
             Files: b/*\nLicense: GPL-2+ or Artistic, and Expat\n",
        ),
        installed(None, "bash is GPL-3, see /usr/share/common-licenses\n"),
    ];
    let recipe = RecipeInput {
        source: "g.toml".into(),
        sha256: "1".repeat(64),
    };
    let lock_input = LockInput::of(&lock);
    let output = Entry::of("g.img", b"disk");
    let g = Guest {
        name: "g",
        suite: "trixie",
        architecture: "amd64",
        mirror: "http://user:pw@127.0.0.1:9/debian/",
        lock: &lock,
        installed: &infos,
        recipe: &recipe,
        lock_input: &lock_input,
        source_date_epoch: sde,
        output: &output,
    };
    let doc = document(&g);
    let v = serde_json::from_slice(&doc.to_json()).unwrap();
    (doc, v)
}

fn package<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name && p["primaryPackagePurpose"] != "SOURCE")
        .unwrap_or_else(|| panic!("no package {name}"))
}

#[test]
fn the_document_describes_the_guest_which_contains_its_packages() {
    let (_, v) = document_of(1_700_000_000);
    assert_eq!(v["spdxVersion"], "SPDX-2.3");
    assert_eq!(v["dataLicense"], "CC0-1.0");
    assert_eq!(v["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(v["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let ids: BTreeSet<&str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    let rels: Vec<(&str, &str, &str)> = v["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["spdxElementId"].as_str().unwrap(),
                r["relationshipType"].as_str().unwrap(),
                r["relatedSpdxElement"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(rels[0], ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-guest"));
    for (from, _, to) in &rels[1..] {
        assert!(ids.contains(from) && ids.contains(to), "{from} {to}");
    }
    // Sorted: bash first. Two installed packages and one tool in the
    // guest; zsh built from its source, bash's source unknown.
    let contained: Vec<&str> = rels
        .iter()
        .filter(|r| r.1 == "CONTAINS")
        .map(|r| r.2)
        .collect();
    assert_eq!(
        contained,
        [
            "SPDXRef-deb-1-bash",
            "SPDXRef-deb-2-zsh",
            "SPDXRef-tool-1-busybox-static"
        ]
    );
    assert!(rels.contains(&(
        "SPDXRef-deb-2-zsh",
        "GENERATED_FROM",
        "SPDXRef-debsrc-1-zsh"
    )));
    assert_eq!(rels.len(), 5);
    let guest = &v["packages"][0];
    assert_eq!(guest["SPDXID"], "SPDXRef-guest");
    assert_eq!(guest["packageFileName"], "g.img");
    assert_eq!(
        guest["checksums"][0]["checksumValue"],
        Entry::of("", b"disk").sha256
    );
    assert_eq!(guest["primaryPackagePurpose"], "OPERATING_SYSTEM");
}

#[test]
fn packages_carry_their_file_purl_and_declared_licenses() {
    let (_, v) = document_of(0);
    let zsh = package(&v, "zsh");
    assert_eq!(zsh["versionInfo"], "1:5.9+dfsg-1");
    assert_eq!(
        zsh["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/zsh@1:5.9%2Bdfsg-1?arch=amd64"
    );
    assert_eq!(
        zsh["externalRefs"][0]["referenceCategory"],
        "PACKAGE-MANAGER"
    );
    // The mirror's credentials are not repeated.
    assert_eq!(
        zsh["downloadLocation"],
        "http://127.0.0.1:9/debian/pool/main/zsh.deb"
    );
    assert_eq!(zsh["packageFileName"], "zsh.deb");
    assert_eq!(zsh["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(zsh["checksums"][0]["checksumValue"], "ab".repeat(32));
    assert_eq!(
        zsh["licenseDeclared"],
        "(GPL-2.0-or-later OR LicenseRef-Artistic) AND \
         LicenseRef-MIT-like AND MIT"
    );
    assert_eq!(zsh["supplier"], "NOASSERTION");
    let declared = zsh["licenseDeclared"].as_str().unwrap();
    spdx::Expression::parse(declared).unwrap();
    let bash = package(&v, "bash");
    assert_eq!(bash["licenseDeclared"], "NOASSERTION");
    assert_eq!(
        bash["licenseComments"],
        "/usr/share/doc/bash/copyright: not machine-readable"
    );
    let refs: Vec<&str> = v["hasExtractedLicensingInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["licenseId"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["LicenseRef-Artistic", "LicenseRef-MIT-like"]);
    assert_eq!(
        v["hasExtractedLicensingInfos"][1]["extractedText"],
        "Free.\n"
    );
    let src = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "SOURCE")
        .unwrap();
    assert_eq!(src["versionInfo"], "5.9-1");
    assert_eq!(
        src["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/zsh@5.9-1?arch=source"
    );
}

#[test]
fn the_same_inputs_give_the_same_bytes_and_another_time_another_uri() {
    let (a, _) = document_of(1);
    let (b, _) = document_of(1);
    assert_eq!(a.to_json(), b.to_json());
    let (c, _) = document_of(2);
    assert_ne!(a.document_namespace, c.document_namespace);
    assert!(a.document_namespace.starts_with("urn:uuid:"));
    assert!(!a.document_namespace.contains('#'));
}

#[test]
fn a_license_named_twice_is_declared_once() {
    let d = dep5::declared(
        "Format: x\n\nFiles: *\nLicense: GPL-2+\n\n\
         Files: a\nLicense: Expat and GPL-2+\n\nFiles: b\nLicense: GPL-2+\n",
    );
    let dep5::Declared::Licenses { all, .. } = d else {
        panic!("not read")
    };
    let name = |t: &Term| match t {
        Term::Spdx(id) => id.clone(),
        Term::Other(n) => n.clone(),
    };
    assert_eq!(declared(&all, &name), "GPL-2.0-or-later AND MIT");
}

#[test]
fn times_and_purls() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    assert_eq!(
        purl("libstdc++6", "14.2.0-19", "amd64").reference_locator,
        "pkg:deb/debian/libstdc%2B%2B6@14.2.0-19?arch=amd64"
    );
    assert_eq!(percent("1.0~rc1"), "1.0~rc1");
    assert_eq!(
        download_location("file:///srv/m", "pool/a.deb"),
        "file:///srv/m/pool/a.deb"
    );
    assert_eq!(list_version().split('.').count(), 2);
}

#[test]
fn error_message() {
    let e = Error::Read {
        path: GuestPath::new("/var/lib/dpkg/status").unwrap(),
        source: std::io::Error::from_raw_os_error(5),
    };
    assert_eq!(
        e.to_string(),
        "/var/lib/dpkg/status: reading it from the guest tree for the SBOM: \
         Input/output error (os error 5)"
    );
}
