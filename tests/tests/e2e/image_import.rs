//! `import`, `tag`, `history` and `rmi` of an imported image: its id and layer digests as
//! dockerd computes them, tags listed and removed.

use super::*;

both_clients! {
    fn image_import_tag_history_rmi(d, c) {
        let repo = unique_name("img");
        let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
        let tar = busybox_tar();
        let tar_arg = tar.display().to_string();
        let imported = d.run(c, &["import", "-c", r#"CMD ["sh"]"#, &tar_arg, &v1]);
        imported.success();
        let id = imported.out().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{imported}");
        let short = &id[7..19];

        let listed = d.run(c, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        assert!(listed.success().lines().contains(&format!("{v1} {short}").as_str()), "{listed}");

        // One layer, whose diff id is the digest of the uncompressed tarball itself.
        let inspected = d.run(c, &["image", "inspect", "-f", "{{.Id}}|{{json .Config.Cmd}}|{{json .RootFS.Layers}}", &v1]);
        let want = format!("{id}|[\"sh\"]|[\"sha256:{}\"]", sha256_of(&tar));
        assert_eq!(inspected.success().out(), want, "{inspected}");

        d.run(c, &["tag", &v1, &v2]).success();
        let tags = d.run(c, &["images", "--filter", &format!("reference={repo}"), "--format", "{{.Tag}} {{.ID}}"]);
        let mut lines = tags.success().lines();
        lines.sort();
        assert_eq!(lines, [format!("v1 {short}"), format!("v2 {short}")], "{tags}");

        let history = d.run(c, &["history", "--format", "{{.Comment}}", &v1]);
        history.success().stdout_has("Imported from -");

        d.run(c, &["rmi", &v2]).success().stdout_has(&format!("Untagged: {v2}"));
        d.run(c, &["image", "inspect", &v1]).success();
        let removed = d.run(c, &["rmi", &v1]);
        removed.success().stdout_has(&format!("Untagged: {v1}")).stdout_has(&format!("Deleted: {id}"));
        d.run(c, &["image", "inspect", &v1]).code_is(1).stderr_has("No such image");
    }
}
