//! A real CNCF distribution registry (Debian's `docker-registry` 2.8) for
//! tests: started on a free loopback port with its storage in a temp dir,
//! killed by PID on drop. Optional htpasswd or token auth, optional TLS with a
//! CA made for the test. Test images are pushed through the registry HTTP API
//! (POST an upload, PUT it with `?digest=`, PUT the manifest), so the digests
//! the tests expect are the sha256 of bytes the tests wrote.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest as _, Sha256};

use super::token::{self, TokenIssuer};
use super::{free_port, run_tool, tool};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// How the registry checks clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull and push.
    #[default]
    Open,
    /// `auth.htpasswd` with one bcrypt user.
    Htpasswd { user: String, password: String },
    /// `auth.token` with a token issuer run by the test ([`TokenIssuer`]).
    Token { user: String, password: String },
}

/// What kind of registry to start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub auth: Auth,
    /// Serve HTTPS with a certificate from a CA made for this registry.
    pub tls: bool,
}

/// A running registry; the process is killed by PID on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`: the registry part of image references.
    pub host: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    pub auth: Auth,
    /// The PEM CA that signed the TLS certificate (TLS registries only).
    pub ca_file: Option<PathBuf>,
    pub token_issuer: Option<TokenIssuer>,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// A pushed single-platform image.
#[derive(Clone, Debug)]
pub struct PushedImage {
    pub repo: String,
    pub tag: Option<String>,
    /// `sha256:…` of the manifest bytes.
    pub digest: String,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    /// `os/arch`
    pub platform: String,
}

/// A pushed OCI index over several single-platform images.
#[derive(Clone, Debug)]
pub struct PushedIndex {
    pub repo: String,
    pub tag: Option<String>,
    /// `sha256:…` of the index bytes.
    pub digest: String,
    pub manifests: Vec<PushedImage>,
}

impl Registry {
    /// An open, plain-HTTP registry.
    pub fn start() -> Registry {
        Registry::start_with(Options::default())
    }

    /// A registry as `options` say. Panics naming scripts/install-deps when the binary is missing.
    pub fn start_with(options: Options) -> Registry {
        let binary = tool("docker-registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut token_issuer = None;
        let mut auth_yaml = String::new();
        match &options.auth {
            Auth::Open => {}
            Auth::Htpasswd { user, password } => {
                let line = run_tool("htpasswd", &["-Bbn", user, password]);
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, line).expect("write htpasswd");
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: chartpin-test\n    path: {}\n",
                    file.display()
                );
            }
            Auth::Token { user, password } => {
                let issuer = TokenIssuer::start(dir.path(), user, password);
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    issuer.realm,
                    token::SERVICE,
                    token::ISSUER,
                    issuer.cert_bundle.display()
                );
                token_issuer = Some(issuer);
            }
        }
        let mut tls_yaml = String::new();
        let mut ca_file = None;
        if options.tls {
            let (ca, cert, key) = make_tls_files(dir.path());
            tls_yaml = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca_file = Some(ca);
        }
        let scheme = if options.tls { "https" } else { "http" };

        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = &ca_file {
            let pem = std::fs::read(ca).expect("read CA");
            http = http.tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("CA pem")]);
        }
        let http = http.build().expect("http client");
        let runtime = super::runtime();

        // The port may be taken between probing and binding: try a few.
        for attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: chartpin-test-secret\n{tls_yaml}{auth_yaml}",
                    root = dir.path().join("data").display()
                ),
            )
            .expect("write registry config");
            let log = std::fs::File::create(dir.path().join(format!("registry-{attempt}.log")))
                .expect("registry log");
            let mut child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            if wait_listening(&mut child, port) {
                return Registry {
                    child,
                    dir,
                    host: format!("127.0.0.1:{port}"),
                    scheme,
                    auth: options.auth,
                    ca_file,
                    token_issuer,
                    runtime,
                    http,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("registry-4.log")).unwrap_or_default();
        panic!("docker-registry did not start on loopback in 5 attempts; last log:\n{log}");
    }

    /// The temp dir holding config, storage and keys; tests may write files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `127.0.0.1:PORT/<repo>`
    pub fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host)
    }

    /// `scheme://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The user and password this registry accepts, if it checks any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.auth {
            Auth::Open => None,
            Auth::Htpasswd { user, password } | Auth::Token { user, password } => {
                Some((user, password))
            }
        }
    }

    /// Push a linux/amd64 image made from `seed` (distinct seeds, distinct digests).
    pub fn push_image(&self, repo: &str, tag: Option<&str>, seed: &str) -> PushedImage {
        self.push_image_for(repo, tag, seed, "linux/amd64")
    }

    /// Push a single-platform image for `platform` (`os/arch[/variant]`).
    pub fn push_image_for(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: &str,
        platform: &str,
    ) -> PushedImage {
        self.runtime
            .block_on(self.push_image_async(repo, tag, seed, platform))
    }

    /// Push `count` distinct linux/amd64 images to `repo`, tagged `t0`…, `concurrency` at a time.
    pub fn push_many(&self, repo: &str, count: usize, concurrency: usize) -> Vec<PushedImage> {
        let workers = concurrency.clamp(1, 32);
        let mut out: Vec<Option<PushedImage>> = vec![None; count];
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    scope.spawn(move || {
                        (w..count)
                            .step_by(workers)
                            .map(|i| {
                                let tag = format!("t{i}");
                                let img = self.runtime.block_on(self.push_image_async(
                                    repo,
                                    Some(&tag),
                                    &format!("many-{i}"),
                                    "linux/amd64",
                                ));
                                (i, img)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                for (i, img) in h.join().expect("push worker") {
                    out[i] = Some(img);
                }
            }
        });
        out.into_iter().map(|o| o.expect("pushed")).collect()
    }

    /// Push an OCI index over one image per platform (`linux/amd64`, `linux/arm64` …).
    pub fn push_index(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: &str,
        platforms: &[&str],
    ) -> PushedIndex {
        self.runtime.block_on(async {
            let mut manifests = Vec::new();
            for p in platforms {
                manifests.push(
                    self.push_image_async(repo, None, &format!("{seed}-{p}"), p)
                        .await,
                );
            }
            let entries: Vec<_> = manifests
                .iter()
                .map(|m| {
                    let mut parts = m.platform.split('/');
                    let mut platform = serde_json::json!({
                        "os": parts.next().unwrap(),
                        "architecture": parts.next().unwrap(),
                    });
                    if let Some(v) = parts.next() {
                        platform["variant"] = v.into();
                    }
                    serde_json::json!({
                        "mediaType": OCI_MANIFEST,
                        "digest": m.digest,
                        "size": m.manifest.len(),
                        "platform": platform,
                    })
                })
                .collect();
            let index = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": entries,
            }))
            .unwrap();
            let digest = sha256(&index);
            self.put_manifest(repo, tag.unwrap_or(&digest), OCI_INDEX, &index)
                .await;
            PushedIndex {
                repo: repo.to_string(),
                tag: tag.map(str::to_string),
                digest,
                manifests,
            }
        })
    }

    /// Upload `bytes` as a blob of `repo`; its `sha256:…` digest.
    pub fn push_blob_bytes(&self, repo: &str, bytes: &[u8]) -> String {
        self.runtime.block_on(self.push_blob(repo, bytes))
    }

    /// Put `bytes` as a manifest of `repo` under `reference` (a tag, or its
    /// own digest when `None`); its `sha256:…` digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let digest = sha256(bytes);
        self.runtime.block_on(self.put_manifest(
            repo,
            reference.unwrap_or(&digest),
            media_type,
            bytes,
        ));
        digest
    }

    /// Push a non-image OCI manifest: config of `config_media_type` (`{}`),
    /// one layer of `layer_media_type` holding `seed`, and `artifactType`
    /// when given. Returns the manifest's digest and bytes.
    pub fn push_artifact(
        &self,
        repo: &str,
        artifact_type: Option<&str>,
        config_media_type: &str,
        layer_media_type: &str,
        seed: &str,
    ) -> (String, Vec<u8>) {
        let config = self.push_blob_bytes(repo, b"{}");
        let layer_bytes = format!("{{\"seed\": \"{seed}\"}}").into_bytes();
        let layer = self.push_blob_bytes(repo, &layer_bytes);
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": config_media_type, "digest": config, "size": 2},
            "layers": [{"mediaType": layer_media_type, "digest": layer, "size": layer_bytes.len()}],
        });
        if let Some(t) = artifact_type {
            manifest["artifactType"] = t.into();
        }
        let bytes = serde_json::to_vec(&manifest).unwrap();
        (self.push_manifest(repo, None, OCI_MANIFEST, &bytes), bytes)
    }

    /// Move `tag` of `repo` to an existing manifest (`bytes` of media type `media_type`).
    pub fn retag(&self, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) {
        self.runtime
            .block_on(self.put_manifest(repo, tag, media_type, bytes));
    }

    async fn push_image_async(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: &str,
        platform: &str,
    ) -> PushedImage {
        let layer = format!("chartpin test layer {seed}\n").into_bytes();
        let layer_digest = self.push_blob(repo, &layer).await;
        let mut parts = platform.split('/');
        let (os, arch, variant) = (parts.next().unwrap(), parts.next().unwrap(), parts.next());
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {"Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        });
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
        let digest = sha256(&manifest);
        self.put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
            .await;
        PushedImage {
            repo: repo.to_string(),
            tag: tag.map(str::to_string),
            digest,
            config_digest,
            manifest,
            platform: platform.to_string(),
        }
    }

    fn authorize(&self, req: reqwest::RequestBuilder, repo: &str) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::Open => req,
            Auth::Htpasswd { user, password } => req.basic_auth(user, Some(password)),
            Auth::Token { .. } => {
                let issuer = self.token_issuer.as_ref().expect("token issuer");
                req.bearer_auth(issuer.token_for(repo, &["pull", "push"]))
            }
        }
    }

    async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base_url());
        let res = self
            .authorize(self.http.post(&url), repo)
            .send()
            .await
            .expect("start upload");
        assert_eq!(res.status().as_u16(), 202, "start upload: {}", res.status());
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload location")
            .to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base_url())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let res = self
            .authorize(
                self.http.put(format!("{location}{sep}digest={digest}")),
                repo,
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("finish upload");
        assert_eq!(
            res.status().as_u16(),
            201,
            "finish upload: {}",
            res.status()
        );
        digest
    }

    async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base_url());
        let res = self
            .authorize(self.http.put(&url), repo)
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put manifest");
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 201, "put manifest {url}: {status} {body}");
    }

    /// Write a Docker `config.json` holding this registry's credentials in
    /// `auths` (base64 `user:password`) into `dir`; returns `dir` for `DOCKER_CONFIG`.
    pub fn write_docker_config(&self, dir: &Path) -> PathBuf {
        let (user, password) = self.credentials().expect("registry without credentials");
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        std::fs::create_dir_all(dir).expect("config dir");
        let mut f = std::fs::File::create(dir.join("config.json")).expect("config.json");
        write!(
            f,
            "{}",
            serde_json::json!({"auths": {self.host.clone(): {"auth": auth}}})
        )
        .unwrap();
        dir.to_path_buf()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Wait (at most 10 s) until the child listens on `port`; false if it exited.
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A CA, and a server certificate for 127.0.0.1/localhost signed by it, made with openssl.
fn make_tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n).to_str().expect("utf-8 temp path").to_string();
    let (ca, ca_key, cert, key, csr, ext) = (
        p("ca.pem"),
        p("ca.key"),
        p("server.pem"),
        p("server.key"),
        p("server.csr"),
        p("server.ext"),
    );
    run_tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            "/CN=chartpin test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    run_tool(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run_tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
    (PathBuf::from(ca), PathBuf::from(cert), PathBuf::from(key))
}
