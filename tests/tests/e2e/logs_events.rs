//! `logs` (tail, timestamps, stdout and stderr apart, `-f` following and ending) and the
//! `events` stream of a container's life.

use super::*;

both_clients! {
    fn logs_tail_and_timestamps(d, c) {
        let name = unique_name("logs");
        d.run_detached(c, &["--name", &name, "busybox", "sh", "-c", "echo one; echo two; echo three; sleep 300"]);
        d.wait_for_log(c, &name, "three");
        let all = d.run(c, &["logs", &name]);
        assert_eq!(all.success().stdout, "one\ntwo\nthree\n", "{all}");
        let tail = d.run(c, &["logs", "--tail", "1", &name]);
        assert_eq!(tail.success().stdout, "three\n", "{tail}");
        let stamped = d.run(c, &["logs", "-t", &name]);
        let lines = stamped.success().lines();
        assert_eq!(lines.len(), 3, "{stamped}");
        for (line, want) in lines.iter().zip(["one", "two", "three"]) {
            let (ts, text) = line.split_once(' ').unwrap_or_default();
            assert_eq!(text, want, "{stamped}");
            // RFC 3339 with nanoseconds, UTC: 2006-01-02T15:04:05.999999999Z
            assert!(ts.len() > 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'), "bad timestamp {ts:?} in {stamped}");
        }

        let errs = unique_name("stderr");
        d.run_detached(c, &["--name", &errs, "busybox", "sh", "-c", "echo to-stderr >&2; sleep 300"]);
        // On stderr only: wait for it there.
        assert!(wait_until(SETTLE, || d.run(c, &["logs", &errs]).stderr.contains("to-stderr")), "{}", d.run(c, &["logs", &errs]));
        let split = d.run(c, &["logs", &errs]);
        split.success().stderr_has("to-stderr");
        assert_eq!(split.stdout, "", "{split}");
    }

    fn logs_follow(d, c) {
        let name = unique_name("follow");
        d.run_detached(c, &["--name", &name, "busybox", "sh", "-c",
            "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); sleep 0.1; done"]);
        let mut follow = d.spawn(c, &["logs", "-f", &name]);
        // The log grows while we read it: a line written well after `logs -f` started arrives.
        d.wait_for_log(c, &name, "line1");
        let later = {
            let n = d.run(c, &["logs", &name]).lines().len();
            format!("line{}\n", n + 10)
        };
        assert!(follow.wait_for_stdout(&later, SETTLE), "never saw {later:?}: {}", follow.stdout());
        assert!(follow.running(), "logs -f exited while the container runs");
        follow.kill();

        // logs -f ends when the container does.
        let short = unique_name("follow-end");
        d.run_detached(c, &["--name", &short, "busybox", "sh", "-c", "echo first; sleep 1; echo second"]);
        let mut ending = d.spawn(c, &["logs", "-f", &short]);
        assert_eq!(ending.wait(SETTLE), Some(0), "logs -f did not end: {}", ending.stderr());
        assert_eq!(ending.stdout(), "first\nsecond\n");
    }

    fn events_stream(d, c) {
        let name = unique_name("events");
        let since = (unix_now() - 1).to_string();
        let mut events = d.spawn(c, &["events", "--since", &since, "--filter", &format!("container={name}"), "--format", "{{.Action}}"]);
        d.run(c, &["run", "--rm", "--name", &name, "busybox", "true"]).success();
        assert!(events.wait_for_stdout("destroy", SETTLE), "{}{}", events.stdout(), events.stderr());
        events.kill();
        let seen: Vec<String> = events.stdout().lines().map(str::trim).filter(|a| ["create", "start", "die", "destroy"].contains(a)).map(str::to_string).collect();
        assert_eq!(seen, ["create", "start", "die", "destroy"], "{}", events.stdout());
    }
}
