//! File source behaviour against real files in a temp dir.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mailtrace::source::file::{FileFollower, FileOffsets, StartAt};

const BIG: usize = usize::MAX;

fn append(path: &Path, s: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(s).unwrap();
}

fn glob(dir: &Path, pat: &str) -> String {
    dir.join(pat).to_string_lossy().into_owned()
}

fn texts(f: &mut FileFollower) -> Vec<String> {
    f.poll(BIG)
        .unwrap()
        .into_iter()
        .map(|l| String::from_utf8(l.bytes).unwrap())
        .collect()
}

fn follower(globs: &[String], offsets: FileOffsets, start: StartAt) -> FileFollower {
    FileFollower::new(globs.to_vec(), offsets, start).unwrap()
}

#[test]
fn start_at_beginning_and_end() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    append(&p, b"a\nb\npart");
    let g = [glob(d.path(), "mail.log")];

    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["a", "b"]);

    // End starts after the last complete line: the partial line is read whole later.
    let mut f = follower(&g, FileOffsets::default(), StartAt::End);
    assert!(texts(&mut f).is_empty());
    append(&p, b"ial\nc\n");
    assert_eq!(texts(&mut f), ["partial", "c"]);
}

#[test]
fn new_files_are_picked_up_from_the_beginning() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("hosts");
    fs::create_dir(&sub).unwrap();
    append(&d.path().join("mail.log"), b"old\n");
    let g = [
        glob(d.path(), "mail*.log"),
        glob(&sub, "*.log"),
        glob(d.path(), "nothing-*.log"),
    ];
    let mut f = follower(&g, FileOffsets::default(), StartAt::End);
    assert!(texts(&mut f).is_empty());

    append(&d.path().join("mail2.log"), b"x1\nx2\n");
    append(&sub.join("mx-a.log"), b"y1\n");
    append(&d.path().join("other.txt"), b"ignored\n");
    let mut got = texts(&mut f);
    got.sort();
    assert_eq!(got, ["x1", "x2", "y1"]);
    assert!(texts(&mut f).is_empty());
    assert_eq!(f.read_errors(), 0);
}

#[test]
fn rotation_by_rename_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"1\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["1"]);

    // The writer holds the old file open across the rename (as syslog daemons do until HUP).
    let mut old = OpenOptions::new().append(true).open(&p).unwrap();
    old.write_all(b"2\n").unwrap();
    let rotated = d.path().join("mail.log.1");
    fs::rename(&p, &rotated).unwrap();
    old.write_all(b"3\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20)); // newer mtime for the new file
    append(&p, b"n1\n");
    assert_eq!(texts(&mut f), ["2", "3", "n1"]);

    // One more poll for the rotated file (writer not reopened yet), then it is dropped.
    old.write_all(b"4\n").unwrap();
    append(&p, b"n2\n");
    assert_eq!(texts(&mut f), ["4", "n2"]);
    assert_eq!(f.followed_files(), 1);
    old.write_all(b"5 too late\n").unwrap();
    assert!(texts(&mut f).is_empty());
    assert_eq!(f.offsets().files.len(), 1);
}

#[test]
fn rotated_name_still_matching_keeps_following() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log*")];
    append(&p, b"1\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["1"]);
    append(&p, b"2\n");
    fs::rename(&p, d.path().join("mail.log.1")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    append(&p, b"n1\n");
    assert_eq!(texts(&mut f), ["2", "n1"]);
    append(&d.path().join("mail.log.1"), b"3\n");
    assert_eq!(texts(&mut f), ["3"]);
    assert_eq!(f.followed_files(), 2);
}

#[test]
fn truncation_and_copytruncate_restart_from_zero() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"Nov 21 19:45:33 first line\nsecond line\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f).len(), 2);

    // Truncated to below our offset.
    File::create(&p).unwrap();
    append(&p, b"short\n");
    assert_eq!(texts(&mut f), ["short"]);

    // Truncated and refilled past our old offset: only the fingerprint tells.
    File::create(&p).unwrap();
    append(
        &p,
        b"Nov 22 00:00:01 new content that is longer than before\nmore\n",
    );
    assert_eq!(
        texts(&mut f),
        [
            "Nov 22 00:00:01 new content that is longer than before",
            "more"
        ]
    );
    assert!(texts(&mut f).is_empty());
}

#[test]
fn restart_continues_exactly() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"1\n2\npar");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["1", "2"]);
    let saved = f.offsets();
    drop(f);

    // Through serde, as the daemon stores it.
    let json = serde_json::to_string(&saved).unwrap();
    let saved: FileOffsets = serde_json::from_str(&json).unwrap();
    append(&p, b"tial\n3\n");
    // StartAt::End must not apply to a known file on restart.
    let mut f = follower(&g, saved, StartAt::End);
    assert_eq!(texts(&mut f), ["partial", "3"]);
    assert!(texts(&mut f).is_empty());
}

#[test]
fn restart_after_rotation_while_down() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"1\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::End);
    assert!(texts(&mut f).is_empty());
    append(&p, b"2\n");
    assert_eq!(texts(&mut f), ["2"]);
    let saved = f.offsets();
    drop(f);

    // While down: more lines, rename (not matched by the glob), new file.
    append(&p, b"3\n");
    fs::rename(&p, d.path().join("mail.log.1")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    append(&p, b"n1\n");

    let mut f = follower(&g, saved, StartAt::End);
    assert_eq!(texts(&mut f), ["3", "n1"]);
    assert!(texts(&mut f).is_empty());
    assert_eq!(f.followed_files(), 1);
}

#[test]
fn restart_after_old_file_deleted_reads_new_from_zero() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"1\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["1"]);
    let saved = f.offsets();
    drop(f);

    fs::remove_file(&p).unwrap();
    append(&p, b"n1\nn2\n");
    let mut f = follower(&g, saved, StartAt::End);
    assert_eq!(texts(&mut f), ["n1", "n2"]);
    assert_eq!(f.offsets().files.len(), 1);
}

#[test]
fn restart_with_same_inode_but_new_content() {
    // Stands in for inode reuse: same identity, different first bytes.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    append(&p, b"aaaa\n");
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert_eq!(texts(&mut f), ["aaaa"]);
    let saved = f.offsets();
    drop(f);
    File::create(&p).unwrap();
    append(&p, b"bbbbbbbb\ncc\n");
    let mut f = follower(&g, saved, StartAt::End);
    assert_eq!(texts(&mut f), ["bbbbbbbb", "cc"]);
}

#[test]
fn partial_line_is_held_back() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    append(&p, b"abc");
    assert!(texts(&mut f).is_empty());
    append(&p, b"def\r");
    assert!(texts(&mut f).is_empty());
    append(&p, b"\nghi");
    assert_eq!(texts(&mut f), ["abcdef"]);
    assert_eq!(f.offsets().files[0].offset, 8);
    append(&p, b"\n");
    assert_eq!(texts(&mut f), ["ghi"]);
}

#[test]
fn unreadable_files_are_counted_not_fatal() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("a.log");
    append(&good, b"ok\n");
    // A symlink loop fails to stat even for root.
    symlink(d.path().join("loop2.log"), d.path().join("loop1.log")).unwrap();
    symlink(d.path().join("loop1.log"), d.path().join("loop2.log")).unwrap();
    // Permissions only bite when not running as root.
    let locked = d.path().join("locked.log");
    append(&locked, b"secret\n");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let root = File::open(&locked).is_ok();
    // A FIFO matched by the glob must not block the poll.
    let fifo = d.path().join("fifo.log");
    let _ = std::process::Command::new("mkfifo").arg(&fifo).status();

    let g = [glob(d.path(), "*.log")];
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    let got = texts(&mut f);
    assert!(got.contains(&"ok".to_string()));
    let per_poll = if root { 2 } else { 3 };
    assert_eq!(f.read_errors(), per_poll);
    append(&good, b"ok2\n");
    assert_eq!(texts(&mut f), ["ok2"]);
    assert_eq!(f.read_errors(), 2 * per_poll);

    if !root {
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(texts(&mut f), ["secret"]);
    }
}

#[test]
fn max_bytes_bounds_one_poll() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    for i in 0..100 {
        append(&p, format!("line {i:04}\n").as_bytes()); // 10 bytes each
    }
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    let mut all = Vec::new();
    let mut polls = 0;
    loop {
        let got = f.poll(95).unwrap();
        if got.is_empty() {
            break;
        }
        assert!(got.len() <= 10, "{} lines in one poll", got.len());
        // The budget stopped every poll with more to read but the last ones.
        if polls < 9 {
            assert!(!f.read_to_end(), "poll {polls} said it read to the end");
        }
        polls += 1;
        all.extend(got.into_iter().map(|l| String::from_utf8(l.bytes).unwrap()));
    }
    assert_eq!(polls, 10);
    assert!(f.read_to_end(), "an empty poll read to the end");
    let want: Vec<String> = (0..100).map(|i| format!("line {i:04}")).collect();
    assert_eq!(all, want);

    // A line longer than the budget still comes through, one per poll.
    append(&p, &[b'x'; 500]);
    append(&p, b"\nshort\n");
    let got = f.poll(10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes.len(), 500);
    assert_eq!(texts(&mut f), ["short"]);
}

#[test]
fn long_lines_and_invalid_utf8_pass_through() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    let long: Vec<u8> = (0..1_048_576u32).map(|i| b'a' + (i % 26) as u8).collect();
    let bad = b"Nov 21 19:45:33 mx \xff\xfe bad \xc3(".to_vec();
    let mut data = long.clone();
    data.push(b'\n');
    data.extend_from_slice(&bad);
    data.push(b'\n');
    // Written in two steps: the long line is partial in between.
    append(&p, &data[..700_000]);
    let mut f = follower(&g, FileOffsets::default(), StartAt::Beginning);
    assert!(f.poll(BIG).unwrap().is_empty());
    append(&p, &data[700_000..]);
    let got = f.poll(BIG).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].bytes, long);
    assert_eq!(got[0].offset, 0);
    assert_eq!(got[1].bytes, bad);
    assert_eq!(*got[1].path, PathBuf::from(&p));
}

#[test]
fn offsets_roundtrip_and_fresh_state() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mail.log");
    let g = [glob(d.path(), "mail.log")];
    // First run sees no file; its (empty but initialized) state makes a later start read the
    // file that appeared while down from the beginning instead of honouring StartAt::End.
    let mut f = follower(&g, FileOffsets::default(), StartAt::End);
    assert!(texts(&mut f).is_empty());
    let saved = f.offsets();
    assert!(saved.initialized && saved.files.is_empty());
    append(&p, b"while down\n");
    let mut f = follower(&g, saved, StartAt::End);
    assert_eq!(texts(&mut f), ["while down"]);
    let o = f.offsets();
    let back: FileOffsets = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
    assert_eq!(back, o);
    assert_eq!(o.files[0].offset, 11);
    assert_eq!(o.files[0].fp_len, 11);
}

#[test]
fn invalid_glob_is_an_error_naming_it() {
    let e = FileFollower::new(
        vec!["/var/log/[".into()],
        FileOffsets::default(),
        StartAt::End,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("/var/log/["), "{e}");
}
