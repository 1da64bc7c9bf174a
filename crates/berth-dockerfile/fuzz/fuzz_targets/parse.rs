//! Any input: parsing a Dockerfile, expanding every instruction, parsing heredoc words and
//! reading it as a .dockerignore must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(df) = berth_dockerfile::parse("Dockerfile", &text) {
        let env: Vec<(String, String)> =
            vec![("A".into(), "x y".into()), ("EMPTY".into(), String::new())];
        for node in &df.nodes {
            let _ = berth_dockerfile::expand_instruction(&node.instruction, df.escape, &env);
        }
    }
    for word in text.split_whitespace() {
        let _ = berth_dockerfile::parse_heredoc(word);
    }
    if let Ok(ignore) = berth_dockerfile::DockerIgnore::parse(&text) {
        let _ = ignore.is_excluded("a/b/c.txt");
    }
});
