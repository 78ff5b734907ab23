//! `mirra serve --s3` driven by real S3 clients nobody here wrote: aws-cli, boto3 and
//! rclone, against three providers (a disk, the test S3 server, the test WebDAV server).
//! The S3 provider goes down mid-run and every command still succeeds; after it comes
//! back, `mirra repair` and `mirra verify` are clean. Refused requests (wrong secret, a
//! key limited to another bucket, a stale If-Match) write nothing.
//!
//! The clients come from the venv `.ci/run` makes (`target/s3-venv`) or from PATH;
//! rclone from Debian's package.

#[path = "common/dav_server.rs"]
mod dav_server;
#[path = "common/s3_clients.rs"]
mod s3_clients;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::process::Command;

use dav_server::DavServer;
use mirra_tests::cli::{MirraEnv, ProviderSpec};
use s3_clients::*;
use s3_server::S3Server;

fn providers(env: &MirraEnv, s3: &S3Server, dav: &DavServer) -> Vec<ProviderSpec> {
    vec![
        ProviderSpec {
            name: "aws".into(),
            priority: 1,
            driver: "s3".into(),
            config: s3.config("prefix = \"alice/\"\nconnect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec {
            name: "dav".into(),
            priority: 5,
            driver: "http".into(),
            config: dav.config("connect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec::disk(env, "disk-a").with_priority(10),
    ]
}

#[test]
fn aws_cli_boto3_and_rclone_work_through_three_providers_and_an_outage() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    let mut s3 = S3Server::start();
    let dav = DavServer::start();
    write_config(&env, &providers(&env, &s3, &dav));
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let work = env.home().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let path = |name: &str| work.join(name).display().to_string();

    ok(
        clients.aws(&["s3", "mb", "s3://data"]),
        "aws s3 mb",
        &served,
    );
    let listed = ok(clients.aws(&["s3", "ls"]), "aws s3 ls", &served);
    assert!(listed.contains("data"), "{listed}");

    // cp up and down: empty, 1 KiB, and 100 MiB (aws-cli goes multipart above 8 MiB).
    for (name, len) in [("empty", 0usize), ("kib", 1024), ("big", 100 << 20)] {
        std::fs::write(path(name), bytes(len, len as u64)).unwrap();
        let target = format!("s3://data/files/{name}");
        ok(
            clients.aws(&["s3", "cp", &path(name), &target]),
            "aws s3 cp up",
            &served,
        );
        let back = path(&format!("{name}.back"));
        ok(
            clients.aws(&["s3", "cp", &target, &back]),
            "aws s3 cp down",
            &served,
        );
        assert!(
            same_file(&work.join(name), Path::new(&back)),
            "{name} came back different"
        );
        // The bytes went to the store: mirra itself reads them, verified.
        let got = env.run(&["get", &format!("data/files/{name}")]).ok();
        assert_eq!(got.stdout.len(), len);
    }
    let head = ok(
        clients.aws(&[
            "s3api",
            "head-object",
            "--bucket",
            "data",
            "--key",
            "files/big",
        ]),
        "head-object",
        &served,
    );
    assert!(
        head.contains("-13\\\""),
        "a 100 MiB upload in 8 MiB parts has a -13 ETag: {head}"
    );
    let head = ok(
        clients.aws(&[
            "s3api",
            "head-object",
            "--bucket",
            "data",
            "--key",
            "files/kib",
        ]),
        "head-object",
        &served,
    );
    let md5 = ok(
        Clients::finish({
            let mut c = Command::new(python());
            c.args([
                "-c",
                "import hashlib,sys; print(hashlib.md5(open(sys.argv[1],'rb').read()).hexdigest())",
                &path("kib"),
            ]);
            c
        }),
        "md5",
        &served,
    );
    assert!(
        head.contains(md5.trim()),
        "single-part ETag is the MD5: {head} vs {md5}"
    );
    let listing = ok(
        clients.aws(&["s3", "ls", "s3://data/files/"]),
        "aws s3 ls",
        &served,
    );
    for name in ["empty", "kib", "big"] {
        assert!(listing.contains(name), "{listing}");
    }

    // sync of a tree, up and back down.
    let tree = work.join("tree");
    for (i, rel) in ["a.txt", "sub/b.bin", "sub/deeper/c.bin", "d.txt"]
        .iter()
        .enumerate()
    {
        let file = tree.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, bytes(500 + i * 3000, i as u64 + 7)).unwrap();
    }
    let tree_s = tree.display().to_string();
    ok(
        clients.aws(&["s3", "sync", &tree_s, "s3://data/tree"]),
        "aws s3 sync up",
        &served,
    );
    let again = ok(
        clients.aws(&["s3", "sync", &tree_s, "s3://data/tree"]),
        "aws s3 sync again",
        &served,
    );
    assert!(
        again.trim().is_empty(),
        "a second sync uploads nothing: {again}"
    );
    let down = work.join("tree.back").display().to_string();
    ok(
        clients.aws(&["s3", "sync", "s3://data/tree", &down]),
        "aws s3 sync down",
        &served,
    );
    assert!(same_file(
        &tree.join("sub/deeper/c.bin"),
        &work.join("tree.back/sub/deeper/c.bin")
    ));
    let check = clients.rclone(&["check", &tree_s, "m:data/tree"]);
    let report = ok(check, "rclone check", &served);
    let _ = report;

    // rclone copy to its own bucket, then check (rclone compares sizes and MD5 ETags).
    ok(
        clients.rclone(&["mkdir", "m:rclone"]),
        "rclone mkdir",
        &served,
    );
    ok(
        clients.rclone(&["copy", &tree_s, "m:rclone/t"]),
        "rclone copy",
        &served,
    );
    ok(
        clients.rclone(&["check", &tree_s, "m:rclone/t"]),
        "rclone check",
        &served,
    );

    // rm.
    ok(
        clients.aws(&["s3", "rm", "s3://data/tree/d.txt"]),
        "aws s3 rm",
        &served,
    );
    let listing = ok(
        clients.aws(&["s3", "ls", "--recursive", "s3://data/tree/"]),
        "ls",
        &served,
    );
    assert!(
        !listing.contains("d.txt") && listing.contains("a.txt"),
        "{listing}"
    );

    // boto3 presigned URLs, GET and PUT, used by a client that holds no key.
    let presigned = clients.boto3(
        KEY,
        SECRET,
        "url = s3.generate_presigned_url('put_object', Params={'Bucket': 'data', 'Key': 'shared.txt'}, ExpiresIn=300)\n\
         urllib.request.urlopen(urllib.request.Request(url, data=b'shared by url', method='PUT'))\n\
         url = s3.generate_presigned_url('get_object', Params={'Bucket': 'data', 'Key': 'shared.txt'}, ExpiresIn=300)\n\
         print(urllib.request.urlopen(url).read().decode())\n\
         at = url.index('X-Amz-Signature=') + len('X-Amz-Signature=')\n\
         bad = url[:at] + ('1' if url[at] == '0' else '0') + url[at + 1:]\n\
         try:\n    urllib.request.urlopen(bad)\n    print('forged url accepted')\n\
         except urllib.error.HTTPError as e:\n    print('forged', e.code)\n",
    );
    let presigned = ok(presigned, "boto3 presigned", &served);
    assert!(presigned.contains("shared by url"), "{presigned}");
    assert!(presigned.contains("forged 403"), "{presigned}");

    // The S3 provider goes down: every command still succeeds.
    s3.stop();
    std::fs::write(path("during"), bytes(4096, 99)).unwrap();
    ok(
        clients.aws(&["s3", "cp", &path("during"), "s3://data/during"]),
        "cp up during the outage",
        &served,
    );
    ok(
        clients.aws(&["s3", "cp", "s3://data/during", &path("during.back")]),
        "cp down during the outage",
        &served,
    );
    assert!(same_file(&work.join("during"), &work.join("during.back")));
    ok(
        clients.aws(&["s3", "cp", "s3://data/files/kib", &path("kib.outage")]),
        "read during the outage",
        &served,
    );
    assert!(same_file(&work.join("kib"), &work.join("kib.outage")));
    ok(
        clients.aws(&["s3", "ls", "s3://data/files/"]),
        "ls during the outage",
        &served,
    );
    ok(
        clients.aws(&["s3", "rm", "s3://data/tree/a.txt"]),
        "rm during the outage",
        &served,
    );
    ok(
        clients.rclone(&["check", &tree_s, "m:rclone/t"]),
        "rclone check during the outage",
        &served,
    );

    // It comes back; repair brings it up to date and every copy verifies.
    s3.restart();
    drop(served);
    let copies = env.repair_then_verify_all_ok();
    assert!(copies > 10, "verify checked {copies} copies");
}

#[test]
fn get_and_copy_follow_the_newer_version_when_the_first_provider_holds_its_bytes() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    let mut providers = env.default_disks();
    // disk-a is read first, so the gateway follows its (old) manifest first.
    providers[0] = ProviderSpec::disk(&env, "disk-a").with_priority(1);
    write_config(&env, &providers);
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    ok(
        clients.boto3(KEY, SECRET, "s3.create_bucket(Bucket='data')\n"),
        "create the bucket",
        &served,
    );
    let (old, new) = ("old version ".repeat(50), "new version ".repeat(60));
    env.interrupted_write_on("disk-a", "data/read.txt", old.as_bytes(), new.as_bytes());
    env.interrupted_write_on("disk-a", "data/source.txt", old.as_bytes(), new.as_bytes());
    let got = clients.boto3(
        KEY,
        SECRET,
        "print(s3.get_object(Bucket='data', Key='read.txt')['Body'].read().decode())\n\
         s3.copy_object(Bucket='data', Key='copy.txt', CopySource={'Bucket': 'data', 'Key': 'source.txt'})\n",
    );
    assert_eq!(ok(got, "get and copy", &served).trim(), new.trim());
    assert_eq!(
        env.run(&["get", "data/copy.txt"]).ok().stdout,
        new.as_bytes()
    );
}

#[test]
fn refused_requests_write_nothing() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());

    let setup = clients.boto3(
        KEY,
        SECRET,
        "for b in ('data', 'other', 'site'):\n    s3.create_bucket(Bucket=b)\n\
         s3.put_object(Bucket='data', Key='k', Body=b'original', ContentType='text/plain', Metadata={'Colour': 'brown'})\n\
         s3.put_object(Bucket='site', Key='index.html', Body=b'<p>public</p>')\n\
         h = s3.head_object(Bucket='data', Key='k')\n\
         print(json.dumps({'etag': h['ETag'], 'meta': h['Metadata'], 'type': h['ContentType']}))\n\
         print(code(lambda: s3.create_bucket(Bucket='data')))\n",
    );
    let setup = ok(setup, "setup", &served);
    let first: serde_json::Value = serde_json::from_str(setup.lines().next().unwrap()).unwrap();
    assert_eq!(first["meta"]["colour"], "brown", "{setup}");
    assert_eq!(first["type"], "text/plain");
    assert!(setup.contains("BucketAlreadyOwnedByYou"), "{setup}");

    let attempt =
        "print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'overwritten')))\n\
                   print(code(lambda: s3.put_object(Bucket='data', Key='new', Body=b'new')))\n";
    let wrong = ok(
        clients.boto3(KEY, "not-the-secret-at-all", attempt),
        "wrong secret",
        &served,
    );
    assert_eq!(
        wrong.lines().collect::<Vec<_>>(),
        ["SignatureDoesNotMatch"; 2],
        "{wrong}"
    );
    let limited = ok(
        clients.boto3(LIMITED_KEY, LIMITED_SECRET, attempt),
        "limited key",
        &served,
    );
    assert_eq!(
        limited.lines().collect::<Vec<_>>(),
        ["AccessDenied"; 2],
        "{limited}"
    );
    let reader = ok(
        clients.boto3(READER_KEY, READER_SECRET, attempt),
        "read-only key",
        &served,
    );
    assert_eq!(
        reader.lines().collect::<Vec<_>>(),
        ["AccessDenied"; 2],
        "{reader}"
    );
    let unknown = ok(
        clients.boto3("AKIANOBODY", "whatever-secret", attempt),
        "unknown key",
        &served,
    );
    assert_eq!(
        unknown.lines().collect::<Vec<_>>(),
        ["InvalidAccessKeyId"; 2],
        "{unknown}"
    );

    // A stale If-Match (and If-None-Match: * on an existing key) are refused; a current
    // If-Match goes through.
    let conditional = clients.boto3(
        KEY,
        SECRET,
        "etag = s3.head_object(Bucket='data', Key='k')['ETag']\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'stale', IfMatch='\"0123456789abcdef0123456789abcdef\"')))\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='k', Body=b'exists', IfNoneMatch='*')))\n\
         print(s3.get_object(Bucket='data', Key='k')['Body'].read().decode())\n\
         print(code(lambda: s3.put_object(Bucket='data', Key='fresh', Body=b'fresh', IfNoneMatch='*')))\n",
    );
    let conditional = ok(conditional, "conditional writes", &served);
    assert_eq!(
        conditional.lines().collect::<Vec<_>>(),
        ["PreconditionFailed", "PreconditionFailed", "original", "ok"],
        "{conditional}"
    );

    // Nothing refused reached the store.
    assert_eq!(env.run(&["get", "data/k"]).ok().stdout, b"original");
    assert_ne!(
        env.run(&["get", "data/new"]).code,
        0,
        "a refused write created data/new"
    );
    let listed = env.run(&["ls", "other/"]).ok().stdout_text();
    assert!(!listed.contains("other/new"), "{listed}");

    // Anonymous: reads of the public bucket only.
    let anonymous = clients.boto3(
        KEY,
        SECRET,
        "from botocore import UNSIGNED\n\
         anon = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], config=Config(signature_version=UNSIGNED))\n\
         print(anon.get_object(Bucket='site', Key='index.html')['Body'].read().decode())\n\
         print(code(lambda: anon.get_object(Bucket='data', Key='k')))\n\
         print(code(lambda: anon.put_object(Bucket='site', Key='x', Body=b'x')))\n\
         port = os.environ['ENDPOINT'].rsplit(':', 1)[1]\n\
         virtual = urllib.request.Request(os.environ['ENDPOINT'] + '/index.html', headers={'Host': 'site.s3.localhost:' + port})\n\
         print(urllib.request.urlopen(virtual).read().decode())\n",
    );
    let anonymous = ok(anonymous, "anonymous", &served);
    assert_eq!(
        anonymous.lines().collect::<Vec<_>>(),
        [
            "<p>public</p>",
            "AccessDenied",
            "AccessDenied",
            "<p>public</p>"
        ],
        "{anonymous}"
    );
    assert_ne!(env.run(&["get", "site/x"]).code, 0);

    // A body whose Content-MD5 is wrong is refused and not stored.
    let digest = clients.boto3(
        KEY,
        SECRET,
        "print(code(lambda: s3.put_object(Bucket='data', Key='md5', Body=b'abc', ContentMD5='AAAAAAAAAAAAAAAAAAAAAA==')))\n\
         print(code(lambda: s3.head_object(Bucket='data', Key='md5')))\n",
    );
    let digest = ok(digest, "content-md5", &served);
    assert_eq!(
        digest.lines().collect::<Vec<_>>(),
        ["BadDigest", "404"],
        "{digest}"
    );

    // Several writers at once, on distinct keys: every object lands intact.
    let concurrent = clients.boto3(
        KEY,
        SECRET,
        "from concurrent.futures import ThreadPoolExecutor\n\
         bodies = {f'c/{i}': os.urandom(2000 + i) for i in range(16)}\n\
         with ThreadPoolExecutor(8) as pool:\n    \
             list(pool.map(lambda kv: s3.put_object(Bucket='data', Key=kv[0], Body=kv[1]), bodies.items()))\n\
         print(all(s3.get_object(Bucket='data', Key=k)['Body'].read() == v for k, v in bodies.items()))\n",
    );
    let concurrent = ok(concurrent, "concurrent writers", &served);
    assert_eq!(concurrent.trim(), "True", "{concurrent}");

    // A bucket with objects cannot be deleted; an empty one can, and is gone for all.
    let buckets = clients.boto3(
        KEY,
        SECRET,
        "print(code(lambda: s3.delete_bucket(Bucket='data')))\n\
         print(code(lambda: s3.delete_bucket(Bucket='other')))\n\
         print(sorted(b['Name'] for b in s3.list_buckets()['Buckets']))\n\
         print(code(lambda: s3.put_object(Bucket='other', Key='k', Body=b'x')))\n\
         print(code(lambda: s3.get_bucket_policy(Bucket='data')))\n",
    );
    let buckets = ok(buckets, "buckets", &served);
    assert_eq!(
        buckets.lines().collect::<Vec<_>>(),
        [
            "BucketNotEmpty",
            "ok",
            "['data', 'site']",
            "NoSuchBucket",
            "NotImplemented"
        ],
        "{buckets}"
    );
}

/// Racing `If-None-Match: *` writers of one key: S3 promises exactly one winner, and the
/// key then holds the winner's bytes. The gateway maps the header to the store's
/// `IfAbsent` condition; the store's per-key ordering (the concurrent-writers work) is
/// what makes the promise hold.
#[test]
fn racing_create_only_puts_leave_exactly_one_winner() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let race = clients.boto3(
        KEY,
        SECRET,
        "from concurrent.futures import ThreadPoolExecutor\n\
         s3.create_bucket(Bucket='data')\n\
         for round in range(3):\n    \
             racers = [os.urandom(3000) for _ in range(6)]\n    \
             put = lambda b: code(lambda: s3.put_object(Bucket='data', Key=f'race{round}', Body=b, IfNoneMatch='*'))\n    \
             with ThreadPoolExecutor(6) as pool:\n        \
                 results = list(pool.map(put, racers))\n    \
             got = s3.get_object(Bucket='data', Key=f'race{round}')['Body'].read()\n    \
             winners = [b for b, r in zip(racers, results) if r == 'ok']\n    \
             print(sorted(results), len(winners) == 1 and got == winners[0])\n",
    );
    let race = ok(race, "racing writers", &served);
    for line in race.lines() {
        assert!(
            line.ends_with("True"),
            "one round had other than exactly one winner holding the key: {race}"
        );
    }
    assert_eq!(race.lines().count(), 3, "{race}");
}

/// The parts of the API the tool runs above touch lightly: listing pages with a
/// delimiter (V2 continuation tokens and V1 markers), ranged and conditional reads,
/// CopyObject with its metadata, and a multipart upload listed, then aborted.
#[test]
fn listings_ranges_copies_and_multipart_bookkeeping() {
    let _serial = serial();
    let env = MirraEnv::initialized();
    write_config(&env, &env.default_disks());
    let served = Served::start(&env);
    let clients = Clients::new(&served, env.home());
    let script = "s3.create_bucket(Bucket='data')\n\
         for k in ['p/a', 'p/b', 'p/c/x', 'p/c/y', 'p/d', 'q']:\n    \
             s3.put_object(Bucket='data', Key=k, Body=k.encode())\n\
         keys, prefixes = [], []\n\
         for page in s3.get_paginator('list_objects_v2').paginate(Bucket='data', Prefix='p/', Delimiter='/', PaginationConfig={'PageSize': 2}):\n    \
             keys += [o['Key'] for o in page.get('Contents', [])]\n    \
             prefixes += [p['Prefix'] for p in page.get('CommonPrefixes', [])]\n\
         print(keys, prefixes)\n\
         v1 = [o['Key'] for page in s3.get_paginator('list_objects').paginate(Bucket='data', PaginationConfig={'PageSize': 2}) for o in page.get('Contents', [])]\n\
         print(v1)\n\
         s3.put_object(Bucket='data', Key='r', Body=bytes(range(256)) * 40, ContentType='application/x-test', Metadata={'k': 'v'})\n\
         part = s3.get_object(Bucket='data', Key='r', Range='bytes=1000-1009')\n\
         print(part['ContentRange'], part['Body'].read() == (bytes(range(256)) * 40)[1000:1010])\n\
         etag = s3.head_object(Bucket='data', Key='r')['ETag']\n\
         print(code(lambda: s3.get_object(Bucket='data', Key='r', IfNoneMatch=etag)), code(lambda: s3.get_object(Bucket='data', Key='r', IfMatch='\"nope\"')))\n\
         s3.copy_object(Bucket='data', Key='r2', CopySource={'Bucket': 'data', 'Key': 'r'})\n\
         h = s3.head_object(Bucket='data', Key='r2')\n\
         print(h['ContentType'], h['Metadata'], h['ETag'] == etag)\n\
         up = s3.create_multipart_upload(Bucket='data', Key='m', ContentType='text/x-parts')['UploadId']\n\
         e1 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=1, Body=b'a' * 100)['ETag']\n\
         e2 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=2, Body=b'b' * 50)['ETag']\n\
         print([u['Key'] for u in s3.list_multipart_uploads(Bucket='data')['Uploads']], [p['Size'] for p in s3.list_parts(Bucket='data', Key='m', UploadId=up)['Parts']])\n\
         print(code(lambda: s3.complete_multipart_upload(Bucket='data', Key='m', UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': e2}, {'PartNumber': 1, 'ETag': e1}]})))\n\
         s3.abort_multipart_upload(Bucket='data', Key='m', UploadId=up)\n\
         print(s3.list_multipart_uploads(Bucket='data').get('Uploads', []), code(lambda: s3.list_parts(Bucket='data', Key='m', UploadId=up)), code(lambda: s3.head_object(Bucket='data', Key='m')))\n\
         up = s3.create_multipart_upload(Bucket='data', Key='m', ContentType='text/x-parts')['UploadId']\n\
         e1 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=1, Body=b'a' * 100)['ETag']\n\
         e2 = s3.upload_part(Bucket='data', Key='m', UploadId=up, PartNumber=2, Body=b'b' * 50)['ETag']\n\
         done = s3.complete_multipart_upload(Bucket='data', Key='m', UploadId=up, MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': e1}, {'PartNumber': 2, 'ETag': e2}]})\n\
         got = s3.get_object(Bucket='data', Key='m')\n\
         print(done['ETag'].endswith('-2\"'), got['ETag'] == done['ETag'], got['ContentType'], got['Body'].read() == b'a' * 100 + b'b' * 50)\n";
    let out = ok(clients.boto3(KEY, SECRET, script), "api details", &served);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "['p/a', 'p/b', 'p/d'] ['p/c/']",
            "['p/a', 'p/b', 'p/c/x', 'p/c/y', 'p/d', 'q']",
            "bytes 1000-1009/10240 True",
            "304 PreconditionFailed",
            "application/x-test {'k': 'v'} True",
            "['m'] [100, 50]",
            "InvalidPartOrder",
            "[] NoSuchUpload 404",
            "True True text/x-parts True",
        ],
        "{out}"
    );
    // The parts and the upload record are gone from the store once the upload ended.
    let internal = env.run(&["ls", ".mirra/s3/uploads/"]).ok().stdout_text();
    assert!(!internal.contains("part-"), "{internal}");
}
