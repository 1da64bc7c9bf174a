//! Build platforms: `docker build --platform`, `FROM --platform=...` and the predefined
//! platform ARGs (`BUILDPLATFORM`, `TARGETPLATFORM`, `TARGETOS`, ...) as BuildKit defines
//! them. berthd runs containers natively and has no emulation, so the only platform a build
//! can target is the host's; any other is refused with a clear error.

use berth_types::{Error, Result};

/// `os/arch[/variant]`, normalized as containerd's `platforms.Normalize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase);
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8")),
        "i386" | "i686" | "386" => ("386".into(), None),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        _ => (arch, variant),
    }
}

/// The machine berthd runs on.
pub fn host() -> Platform {
    let (arch, variant) = normalize_arch(berth_image::go_arch(), None);
    Platform {
        os: "linux".into(),
        arch,
        variant,
    }
}

/// Parses `linux/amd64`, `linux/arm64/v8`, `amd64` (the host OS assumed) or `linux` (the
/// host architecture assumed).
pub fn parse(spec: &str) -> Result<Platform> {
    let bad = || {
        Error::invalid(format!(
            "\"{spec}\": unknown operating system or architecture: invalid argument"
        ))
    };
    let parts: Vec<&str> = spec.trim().split('/').collect();
    if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
        return Err(bad());
    }
    const OSES: &[&str] = &["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd"];
    let (os, arch, variant) = match parts.as_slice() {
        [one] if OSES.contains(&one.to_ascii_lowercase().as_str()) => {
            (one.to_ascii_lowercase(), host().arch, None)
        }
        [one] => ("linux".to_string(), one.to_string(), None),
        [os, arch] => (os.to_ascii_lowercase(), arch.to_string(), None),
        [os, arch, variant] => (os.to_ascii_lowercase(), arch.to_string(), Some(*variant)),
        _ => return Err(bad()),
    };
    if !OSES.contains(&os.as_str()) {
        return Err(bad());
    }
    let (arch, variant) = normalize_arch(&arch, variant);
    Ok(Platform { os, arch, variant })
}

/// Refuses a platform this daemon cannot run: berthd has no emulator.
pub fn check_runnable(p: &Platform) -> Result<()> {
    let h = host();
    if p.os == h.os && p.arch == h.arch && p.variant == h.variant {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "platform {p} is not supported by this berthd: it builds and runs {h} only (no emulation for other platforms)"
    )))
}

/// The target platform of a build: `--platform` (checked) or the host.
pub fn target(requested: Option<&str>) -> Result<Platform> {
    match requested.filter(|s| !s.trim().is_empty()) {
        None => Ok(host()),
        Some(spec) => {
            let p = parse(spec)?;
            check_runnable(&p)?;
            Ok(p)
        }
    }
}

/// dockerd's check of a base image against the stage's platform.
pub fn check_image(
    reference: &str,
    image_os: &str,
    image_arch: &str,
    wanted: &Platform,
) -> Result<()> {
    if image_arch.is_empty() {
        return Ok(());
    }
    let os = if image_os.is_empty() {
        "linux"
    } else {
        image_os
    };
    let (arch, _) = normalize_arch(image_arch, None);
    if os == wanted.os && arch == wanted.arch {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {os}/{arch}"
    )))
}

/// The ARGs BuildKit predefines in the global scope (a stage sees them after a bare `ARG
/// NAME`).
pub fn predefined_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.arch.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn platforms_parse_and_normalize() {
        let p = parse("linux/x86_64").unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert_eq!(
            parse("Linux/aarch64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(parse("arm64").unwrap().to_string(), "linux/arm64");
        assert_eq!(parse("linux/arm/v7").unwrap().to_string(), "linux/arm/v7");
        assert!(parse("nope/amd64")
            .unwrap_err()
            .message
            .contains("unknown operating system or architecture"));
        assert!(parse("linux//").is_err());
    }

    #[test]
    fn only_the_host_platform_runs() {
        let h = host();
        assert!(target(Some(&h.to_string())).is_ok());
        assert_eq!(target(None).unwrap(), h);
        let other = if h.arch == "amd64" {
            "linux/arm64"
        } else {
            "linux/amd64"
        };
        let e = target(Some(other)).unwrap_err();
        assert!(
            e.message.contains("is not supported by this berthd"),
            "{}",
            e.message
        );
        assert!(target(Some("windows/amd64")).is_err());
    }

    #[test]
    fn predefined_args_follow_buildkit() {
        let h = host();
        let args = predefined_args(&h, &h);
        let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("TARGETPLATFORM"), Some(h.to_string()));
        assert_eq!(get("BUILDOS").as_deref(), Some("linux"));
        assert_eq!(get("TARGETARCH"), Some(h.arch.clone()));
        assert_eq!(get("TARGETVARIANT").as_deref(), Some(""));
    }

    #[test]
    fn base_images_must_match() {
        let h = host();
        assert!(check_image("busybox", "linux", &h.arch, &h).is_ok());
        assert!(check_image("busybox", "", "", &h).is_ok());
        let e = check_image("busybox", "linux", "s390x", &h).unwrap_err();
        assert!(e.message.contains("does not match the specified platform"));
    }
}
