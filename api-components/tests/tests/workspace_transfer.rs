//! Files in and out in bulk over HTTP: `POST /api/workspace/{uuid}/upload` (multipart),
//! `GET .../download/{path}` and `GET .../zip`, against the real `workspace` component in the
//! real api-host and a migrated PostgreSQL. The multipart bodies come from reqwest's encoder
//! (and hand-made ones for the malformed cases); the archive is read with the `zip` crate.

mod common;
mod workspace_api;

use chrono::{Datelike, Timelike};
use common::{Host, Reply, Stack, client, each_host};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use std::io::Read;
use workspace_api::{
    Body, PASSWORD, assert_common_errors, call, content, put, raw_get, session, share, tree,
};

async fn upload(stack: &Stack, token: &str, id: &str, query: &str, form: Form) -> Reply {
    Reply::of(
        client()
            .post(stack.url(&format!("/api/workspace/{id}/upload{query}")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn file(name: &str, bytes: &[u8]) -> Part {
    Part::bytes(bytes.to_vec()).file_name(name.to_owned())
}

/// A hand-made multipart body with boundary `XyZ`.
fn handmade(body: &str) -> Body {
    Body::Typed(
        "multipart/form-data; boundary=XyZ",
        body.replace('\n', "\r\n").into_bytes(),
    )
}

#[each_host(flavor = "multi_thread")]
async fn uploads_write_every_part_or_none(host: Host) {
    let stack = Stack::with_variables(host, &[("max_file_size", "1000")]).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;
    let all: Vec<u8> = (0..=255u8).collect();

    // File names, a field name as the path, nested paths, binary data, a ?dir= prefix.
    let form = Form::new()
        .part("f1", file("a.txt", "héllo\n".as_bytes()))
        .part("f2", file("bin/all.dat", &all))
        .part("deep/n.py", Part::bytes(b"print(2)\n".to_vec()));
    let r = upload(&stack, &alice, &id, "?dir=up%20load", form).await;
    assert_eq!(r.status, 201, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    let paths: Vec<&str> = items.iter().map(|i| i["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["up load/a.txt", "up load/bin/all.dat", "up load/deep/n.py"]
    );
    assert!(
        items
            .iter()
            .all(|i| i["version"] == 1 && i["created"] == true),
        "{r:?}"
    );
    assert_eq!(items[1]["size"], 256);
    assert_eq!(
        content(&stack, &alice, &id, "up%20load/bin/all.dat").await,
        Some(all.clone())
    );
    assert_eq!(
        content(&stack, &alice, &id, "up%20load/a.txt").await,
        Some("héllo\n".as_bytes().to_vec())
    );
    assert_eq!(
        content(&stack, &alice, &id, "up%20load/deep/n.py").await,
        Some(b"print(2)\n".to_vec())
    );

    // The same paths again through a `dir` field: replaced, 200, version 2.
    let form = Form::new()
        .text("dir", "up load")
        .part("f1", file("a.txt", b"v2"))
        .part("f2", file("bin/all.dat", b"v2"))
        .part("f3", file("deep/n.py", b"v2"));
    let r = upload(&stack, &alice, &id, "", form).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == 2 && i["created"] == false),
        "{r:?}"
    );
    let before = tree(&stack, &alice, &id).await;

    // All or nothing: a conflict in the last part, a part over max_file_size, a duplicate
    // path, a bad path: nothing of those uploads is written.
    let refused: Vec<(Form, u16, &str)> = vec![
        (
            Form::new()
                .part("a", file("fresh.txt", b"x"))
                .part("b", file("up load/a.txt/in", b"y")),
            409,
            "conflict",
        ),
        (
            Form::new()
                .part("a", file("fresh.txt", b"x"))
                .part("b", file("big.bin", &[1; 1001])),
            413,
            "payload_too_large",
        ),
        (
            Form::new()
                .part("a", file("fresh.txt", b"x"))
                .part("b", file("fresh.txt", b"y")),
            400,
            "bad_request",
        ),
        (
            Form::new()
                .part("a", file("fresh.txt", b"x"))
                .part("b", file("../escape", b"y")),
            400,
            "invalid_path",
        ),
        (
            Form::new()
                .text("dir", "a")
                .text("dir", "b")
                .part("a", file("fresh.txt", b"x")),
            400,
            "bad_request",
        ),
        (Form::new().text("dir", "only"), 400, "bad_request"),
    ];
    for (form, status, code) in refused {
        let r = upload(&stack, &alice, &id, "", form).await;
        r.assert_error(status, code);
    }
    let r = upload(
        &stack,
        &alice,
        &id,
        "?dir=..%2Fx",
        Form::new().part("a", file("f", b"x")),
    )
    .await;
    r.assert_error(400, "invalid_path");
    assert_eq!(tree(&stack, &alice, &id).await, before);

    // Malformed multipart bodies are 400, other content types 415.
    let upload_path = format!("/api/workspace/{id}/upload");
    let a = Some(alice.as_str());
    for body in [
        handmade(
            "--XyZ\nContent-Disposition: form-data; name=\"a\"; filename=\"m.txt\"\n\nno end\n",
        ),
        handmade("--XyZ\nContent-Type: text/plain\n\nx\n--XyZ--\n"),
        handmade("--XyZ\nContent-Disposition: form-data; filename=\"m.txt\"\n\nx\n--XyZ--\n"),
        handmade("--XyZ\nContent-Disposition: attachment; name=\"a\"\n\nx\n--XyZ--\n"),
        handmade("--XyZ\nContent-Disposition: form-data; name=\"a\"\nno blank line\n--XyZ--\n"),
        handmade("no delimiter at all"),
        handmade("--XyZ--\n"),
        Body::Typed("multipart/form-data", b"--XyZ\r\n".to_vec()),
        Body::Typed("multipart/form-data; boundary=", b"--\r\n".to_vec()),
    ] {
        let r = call(&stack, Method::POST, &upload_path, a, &[], body).await;
        r.assert_error(400, "bad_request");
    }
    let r = call(
        &stack,
        Method::POST,
        &upload_path,
        a,
        &[],
        Body::Json(json!({"a": 1})),
    )
    .await;
    r.assert_error(415, "unsupported_media_type");
    assert_eq!(tree(&stack, &alice, &id).await, before);

    // A well-formed hand-made body with a preamble, quoted names and RFC 5987 filename*.
    let r = call(
        &stack,
        Method::POST,
        &upload_path,
        a,
        &[],
        handmade(concat!(
            "preamble\n--XyZ\n",
            "Content-Disposition: form-data; name=\"x\"; filename*=UTF-8''%C3%BC%20b.txt\n",
            "Content-Type: text/plain\n\nü\n\n--XyZ\n",
            "content-disposition: form-data; name=\"semi;colon.txt\"\n\n--\n--XyZ--\nepilogue",
        )),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        content(&stack, &alice, &id, "%C3%BC%20b.txt").await,
        Some("ü\r\n".as_bytes().to_vec())
    );
    assert_eq!(
        content(&stack, &alice, &id, "semi%3Bcolon.txt").await,
        Some(b"--".to_vec())
    );

    share(&stack, &alice, &id, "bob", "viewer").await;
    let r = upload(
        &stack,
        &bob,
        &id,
        "",
        Form::new().part("a", file("v.txt", b"v")),
    )
    .await;
    r.assert_error(403, "forbidden");
    assert_common_errors(&stack, &id, "upload", Method::POST, Method::GET, &carol).await;
}

#[each_host(flavor = "multi_thread")]
async fn downloads_are_attachments_and_the_zip_holds_every_byte_and_folder(host: Host) {
    let stack = Stack::start(host).await;
    let alice = stack.user_with_token("alice", PASSWORD).await;
    let bob = stack.user_with_token("bob", PASSWORD).await;
    let carol = stack.user_with_token("carol", PASSWORD).await;
    let id = session(&stack, &alice).await;

    // An empty workspace is an empty, valid archive.
    let (status, headers, bytes) =
        raw_get(&stack, &format!("/api/workspace/{id}/zip"), &alice).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(
        zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .unwrap()
            .len(),
        0
    );

    let all: Vec<u8> = (0..=255u8).rev().collect();
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("hello world.txt", "hello%20world.txt", b"hello\n".to_vec()),
        ("bin/all.bin", "bin/all.bin", all.clone()),
        ("bin/big.bin", "bin/big.bin", big.clone()),
        ("deep/a/b/c.py", "deep/a/b/c.py", b"print('c')\n".to_vec()),
        (
            "ünï code.md",
            "%C3%BCn%C3%AF%20code.md",
            "# ü\n".as_bytes().to_vec(),
        ),
        ("empty.txt", "empty.txt", Vec::new()),
        ("repeat.txt", "repeat.txt", b"hello world\n".repeat(1000)),
    ];
    for (_, url, bytes) in &files {
        put(&stack, &alice, &id, url, bytes).await;
    }
    let r = call(
        &stack,
        Method::POST,
        &format!("/api/workspace/{id}/folder/empty/inner"),
        Some(&alice),
        &[],
        Body::None,
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");

    // Single downloads.
    share(&stack, &alice, &id, "bob", "viewer").await;
    for (name, url, bytes) in &files {
        let (status, headers, body) =
            raw_get(&stack, &format!("/api/workspace/{id}/download/{url}"), &bob).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(&body, bytes, "{name}");
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment; "), "{disposition}");
        let base = url.rsplit('/').next().unwrap();
        assert!(
            disposition.ends_with(&format!("filename*=UTF-8''{base}")),
            "{name}: {disposition}"
        );
        assert_eq!(headers["etag"], "\"1\"");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let content_type = |url: &'static str| {
        let stack = &stack;
        let bob = bob.clone();
        let id = id.clone();
        async move {
            let (_, headers, _) =
                raw_get(stack, &format!("/api/workspace/{id}/download/{url}"), &bob).await;
            headers["content-type"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        content_type("hello%20world.txt").await,
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        content_type("bin/all.bin").await,
        "application/octet-stream"
    );
    assert_eq!(
        content_type("deep/a/b/c.py").await,
        "text/x-python; charset=utf-8"
    );
    assert_eq!(
        content_type("%C3%BCn%C3%AF%20code.md").await,
        "text/markdown; charset=utf-8"
    );
    let (_, headers, _) = raw_get(
        &stack,
        &format!("/api/workspace/{id}/download/%C3%BCn%C3%AF%20code.md"),
        &bob,
    )
    .await;
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"_n_ code.md\"; filename*=UTF-8''%C3%BCn%C3%AF%20code.md"
    );

    let b = Some(bob.as_str());
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/download/bin"),
        b,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(409, "conflict");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/download/nope"),
        b,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(404, "not_found");
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/download/..%2Fx"),
        b,
        &[],
        Body::None,
    )
    .await;
    r.assert_error(400, "invalid_path");
    assert_common_errors(
        &stack,
        &id,
        "download/bin/all.bin",
        Method::GET,
        Method::POST,
        &carol,
    )
    .await;

    // The archive, read by the viewer: every item of the tree, every byte, every folder.
    let (status, headers, bytes) = raw_get(&stack, &format!("/api/workspace/{id}/zip"), &bob).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/zip");
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"workspace-{id}.zip\"; filename*=UTF-8''workspace-{id}.zip")
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let items = tree(&stack, &alice, &id).await;
    assert_eq!(archive.len(), items.len());
    for (path, kind, _) in &items {
        if kind == "folder" {
            let entry = archive
                .by_name(&format!("{path}/"))
                .unwrap_or_else(|e| panic!("{path}/: {e}"));
            assert!(entry.is_dir(), "{path}");
        } else {
            let mut entry = archive
                .by_name(path)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(entry.is_file(), "{path}");
            let mut read = Vec::new();
            // read_to_end checks the entry's CRC-32.
            entry.read_to_end(&mut read).unwrap();
            let expected = &files.iter().find(|(n, _, _)| n == path).unwrap().2;
            assert_eq!(&read, expected, "{path}");
        }
    }
    for folder in [
        "bin/",
        "deep/",
        "deep/a/",
        "deep/a/b/",
        "empty/",
        "empty/inner/",
    ] {
        assert!(archive.by_name(folder).is_ok(), "{folder}");
    }
    // Text is deflated; bytes that do not shrink are stored.
    let repeat = archive.by_name("repeat.txt").unwrap();
    assert_eq!(repeat.compression(), zip::CompressionMethod::Deflated);
    assert!(
        repeat.compressed_size() < 1000,
        "{}",
        repeat.compressed_size()
    );
    drop(repeat);
    assert_eq!(
        archive.by_name("bin/all.bin").unwrap().compression(),
        zip::CompressionMethod::Stored
    );
    // Entries are dated by the item's updated_at (UTC, to the two seconds MS-DOS keeps).
    let r = call(
        &stack,
        Method::GET,
        &format!("/api/workspace/{id}/files"),
        b,
        &[],
        Body::None,
    )
    .await;
    let item = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "bin/all.bin")
        .unwrap();
    let updated: chrono::DateTime<chrono::Utc> =
        item["updated_at"].as_str().unwrap().parse().unwrap();
    let dos = archive
        .by_name("bin/all.bin")
        .unwrap()
        .last_modified()
        .unwrap();
    assert_eq!(
        (
            dos.year(),
            dos.month(),
            dos.day(),
            dos.hour(),
            dos.minute(),
            dos.second()
        ),
        (
            updated.year() as u16,
            updated.month() as u8,
            updated.day() as u8,
            updated.hour() as u8,
            updated.minute() as u8,
            (updated.second() - updated.second() % 2) as u8
        )
    );
    assert_common_errors(&stack, &id, "zip", Method::GET, Method::POST, &carol).await;
}
