//! `chartpin verify` and `chartpin resolve` against a real registry.

use crate::support::registry::Registry;

#[test]
fn harness_starts_a_registry_and_pushes_images() {
    let reg = Registry::start();
    let img = reg.push_image("app", Some("v1"), "one");
    let idx = reg.push_index("multi", Some("v2"), "two", &["linux/amd64", "linux/arm64"]);
    assert!(img.digest.starts_with("sha256:"));
    assert_eq!(idx.manifests.len(), 2);
}

#[test]
fn harness_supports_htpasswd_token_and_tls() {
    use crate::support::registry::{Auth, Options};
    for options in [
        Options {
            auth: Auth::Htpasswd {
                user: "alice".into(),
                password: "s3cret-htpasswd".into(),
            },
            tls: false,
        },
        Options {
            auth: Auth::Token {
                user: "bob".into(),
                password: "s3cret-token".into(),
            },
            tls: false,
        },
        Options {
            auth: Auth::Open,
            tls: true,
        },
    ] {
        let reg = Registry::start_with(options);
        let img = reg.push_image("app", Some("v1"), "one");
        assert!(img.digest.starts_with("sha256:"));
    }
}
