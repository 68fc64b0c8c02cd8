//! The test harness's own S3 server ([`S3Server`], moto's): it starts, answers, and its
//! "another client" helpers write, read, list (past one page of 1000) and delete objects. The
//! blob tests against an S3 backend stand on it. No wasmhost binary here.

use wasmhost_tests::S3Server;

#[test]
fn put_get_list_delete_through_the_helpers() {
    let s3 = S3Server::start();
    assert_eq!(s3.bucket(), "wasmhost-test");
    assert_eq!(s3.get_object("app1/files/a.txt"), None);

    s3.put_object("app1/files/a.txt", b"hello");
    s3.put_object_with_type("app1/files/b/c.json", b"{}", Some("application/json"));
    // A key that needs percent-encoding in the request and escaping in the listing's XML.
    let odd = "app1/files/sp ace+plus&amp<lt>/é.txt";
    s3.put_object(odd, b"odd");
    s3.put_object("app1/other/x", b"x");

    assert_eq!(
        s3.get_object("app1/files/a.txt").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(s3.get_object(odd).as_deref(), Some(&b"odd"[..]));
    assert_eq!(
        s3.list_keys("app1/files/"),
        ["app1/files/a.txt", "app1/files/b/c.json", odd]
    );
    assert_eq!(s3.list_keys("app1/").len(), 4);
    assert!(s3.list_keys("nothing/").is_empty());

    s3.delete_object("app1/files/a.txt");
    s3.delete_object("app1/files/a.txt"); // missing: no error
    assert_eq!(s3.get_object("app1/files/a.txt"), None);
    assert_eq!(s3.list_keys("app1/files/"), ["app1/files/b/c.json", odd]);
}

#[test]
fn a_listing_follows_continuation_tokens() {
    let s3 = S3Server::start();
    // ListObjectsV2 answers 1000 keys a page.
    let keys: Vec<String> = (0..1005).map(|i| format!("many/k{i:04}")).collect();
    std::thread::scope(|scope| {
        for part in keys.chunks(keys.len().div_ceil(4)) {
            let s3 = &s3;
            scope.spawn(move || part.iter().for_each(|key| s3.put_object(key, b"")));
        }
    });
    s3.put_object("other", b"");
    assert_eq!(s3.list_keys("many/"), keys);
}

#[test]
fn the_runtime_config_and_environment_name_the_server() {
    let s3 = S3Server::start();
    let endpoint = s3.endpoint();
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", s3.port));
    assert_eq!(
        s3.runtime_config_toml("files", "app1"),
        format!(
            "[blob_container.files]\ntype = \"s3\"\nendpoint = \"{endpoint}\"\n\
             bucket = \"wasmhost-test\"\nregion = \"us-east-1\"\nprefix = \"app1\"\n"
        )
    );
    assert!(!s3.runtime_config_toml("files", "").contains("prefix"));
    let env = s3.env();
    let names: Vec<&str> = env.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]
    );
}

#[test]
fn two_servers_are_apart() {
    let one = S3Server::start();
    let two = S3Server::start();
    assert_ne!(one.port, two.port);
    one.put_object("k", b"1");
    assert_eq!(two.get_object("k"), None);
}
