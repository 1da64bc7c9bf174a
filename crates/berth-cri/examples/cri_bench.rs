//! The gRPC client of `scripts/bench/cri`: times pod start and teardown against CRI endpoints
//! (berthd's, containerd's), one long-lived connection each, rounds interleaved so that both
//! see the same machine load.
//!
//! ```text
//! cri_bench pull SOCKET IMAGE...
//! cri_bench clean SOCKET
//! cri_bench run [--rounds N] [--warmup N] [--image IMAGE] [--log-dir DIR]
//!               [--cgroup-parent PREFIX] NAME=SOCKET...
//! ```
//!
//! A round, for each endpoint: RunPodSandbox (CNI network, POD IPC and network namespaces) +
//! CreateContainer (`IMAGE`, `sleep 3600`) + StartContainer is the *start* time; then, untimed,
//! ContainerStatus must say RUNNING; StopPodSandbox + RemovePodSandbox is the *teardown* time;
//! then, untimed, ListPodSandbox must no longer show the pod. `run` prints one JSON object:
//! `{"NAME": {"start": [s...], "teardown": [s...], "phases": {"run": [s...], ...}}}`, seconds
//! of each measured round. `clean` stops and removes every pod of the endpoint (what a failed
//! round left). Built by the script:
//! `cargo build --release -p berth-cri --example cri_bench`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use berth_cri::proto::{self, runtime_service_client::RuntimeServiceClient};
use tonic::transport::Channel;

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn connect(sock: PathBuf) -> Result<Channel, Error> {
    // The URI is not used: every connection goes to the socket.
    Ok(tonic::transport::Endpoint::try_from("http://cri.invalid")?
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = sock.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await?)
}

struct Options {
    rounds: usize,
    warmup: usize,
    image: String,
    log_dir: PathBuf,
    cgroup_parent: String,
    endpoints: Vec<(String, PathBuf)>,
}

fn parse_run(args: &[String]) -> Result<Options, Error> {
    let mut o = Options {
        rounds: 20,
        warmup: 3,
        image: "busybox".into(),
        log_dir: std::env::temp_dir().join("cri-bench-logs"),
        cgroup_parent: String::new(),
        endpoints: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = value()?.parse()?,
            "--warmup" => o.warmup = value()?.parse()?,
            "--image" => o.image = value()?,
            "--log-dir" => o.log_dir = value()?.into(),
            "--cgroup-parent" => o.cgroup_parent = value()?,
            e => {
                let (name, sock) = e
                    .split_once('=')
                    .ok_or(format!("expected NAME=SOCKET, got {e:?}"))?;
                o.endpoints.push((name.to_string(), sock.into()));
            }
        }
    }
    if o.endpoints.is_empty() {
        return Err("no endpoint (NAME=SOCKET)".into());
    }
    Ok(o)
}

/// The pod kubelet would ask for, minus what neither runtime needs here: its own network
/// (CNI), IPC and UTS namespaces, a PID namespace per container, a DNS config, a cgroup
/// parent, a log directory.
fn pod_config(o: &Options, name: &str, round: usize) -> proto::PodSandboxConfig {
    let pod = format!("bench-{round}");
    let uid = format!("{name}-{}-{round}", std::process::id());
    proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: pod.clone(),
            uid: uid.clone(),
            namespace: "bench".into(),
            attempt: 0,
        }),
        hostname: pod,
        log_directory: o.log_dir.join(&uid).display().to_string(),
        dns_config: Some(proto::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["bench.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        labels: [("bench".to_string(), name.to_string())].into(),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: if o.cgroup_parent.is_empty() {
                String::new()
            } else {
                format!("{}-{name}", o.cgroup_parent)
            },
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(proto::NamespaceOption {
                    network: proto::NamespaceMode::Pod as i32,
                    pid: proto::NamespaceMode::Container as i32,
                    ipc: proto::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(o: &Options) -> proto::ContainerConfig {
    proto::ContainerConfig {
        metadata: Some(proto::ContainerMetadata {
            name: "sleeper".into(),
            attempt: 0,
        }),
        image: Some(proto::ImageSpec {
            image: o.image.clone(),
            ..Default::default()
        }),
        command: vec!["sleep".into(), "3600".into()],
        log_path: "sleeper/0.log".into(),
        linux: Some(proto::LinuxContainerConfig {
            security_context: Some(proto::LinuxContainerSecurityContext {
                namespace_options: Some(proto::NamespaceOption {
                    network: proto::NamespaceMode::Pod as i32,
                    pid: proto::NamespaceMode::Container as i32,
                    ipc: proto::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[derive(Default)]
struct Times {
    start: Vec<f64>,
    teardown: Vec<f64>,
    phases: BTreeMap<&'static str, Vec<f64>>,
}

/// One round against one endpoint: the start and teardown times and each RPC's.
async fn round(
    c: &mut RuntimeServiceClient<Channel>,
    o: &Options,
    name: &str,
    n: usize,
) -> Result<(f64, f64, Vec<(&'static str, f64)>), Error> {
    let config = pod_config(o, name, n);
    let ctx = |what: &str, e: tonic::Status| format!("{name}: {what}: {e}");
    let t0 = Instant::now();
    let pod = c
        .run_pod_sandbox(proto::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .map_err(|e| ctx("RunPodSandbox", e))?
        .into_inner()
        .pod_sandbox_id;
    let t1 = Instant::now();
    let ctr = c
        .create_container(proto::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config(o)),
            sandbox_config: Some(config),
        })
        .await
        .map_err(|e| ctx("CreateContainer", e))?
        .into_inner()
        .container_id;
    let t2 = Instant::now();
    c.start_container(proto::StartContainerRequest {
        container_id: ctr.clone(),
    })
    .await
    .map_err(|e| ctx("StartContainer", e))?;
    let t3 = Instant::now();
    let state = c
        .container_status(proto::ContainerStatusRequest {
            container_id: ctr.clone(),
            verbose: false,
        })
        .await
        .map_err(|e| ctx("ContainerStatus", e))?
        .into_inner()
        .status
        .map(|s| s.state)
        .unwrap_or_default();
    if state != proto::ContainerState::ContainerRunning as i32 {
        return Err(format!("{name}: container {ctr} is not running after StartContainer").into());
    }
    let t4 = Instant::now();
    c.stop_pod_sandbox(proto::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .map_err(|e| ctx("StopPodSandbox", e))?;
    let t5 = Instant::now();
    c.remove_pod_sandbox(proto::RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .map_err(|e| ctx("RemovePodSandbox", e))?;
    let t6 = Instant::now();
    let left = c
        .list_pod_sandbox(proto::ListPodSandboxRequest {
            filter: Some(proto::PodSandboxFilter {
                id: pod.clone(),
                ..Default::default()
            }),
        })
        .await
        .map_err(|e| ctx("ListPodSandbox", e))?
        .into_inner()
        .items;
    if !left.is_empty() {
        return Err(format!("{name}: pod {pod} is still listed after RemovePodSandbox").into());
    }
    let s = |a: Instant, b: Instant| (b - a).as_secs_f64();
    Ok((
        s(t0, t3),
        s(t4, t6),
        vec![
            ("RunPodSandbox", s(t0, t1)),
            ("CreateContainer", s(t1, t2)),
            ("StartContainer", s(t2, t3)),
            ("StopPodSandbox", s(t4, t5)),
            ("RemovePodSandbox", s(t5, t6)),
        ],
    ))
}

async fn run(o: Options) -> Result<(), Error> {
    let mut clients = Vec::new();
    for (name, sock) in &o.endpoints {
        let ch = connect(sock.clone())
            .await
            .map_err(|e| format!("{name}: connecting to {}: {e}", sock.display()))?;
        clients.push((name.clone(), RuntimeServiceClient::new(ch)));
    }
    let mut times: BTreeMap<String, Times> = BTreeMap::new();
    for n in 0..o.warmup + o.rounds {
        // Alternate who goes first, so neither always runs right after the other's teardown.
        let k = clients.len();
        for i in 0..k {
            let (name, c) = &mut clients[(i + n) % k];
            let (start, teardown, phases) = round(c, &o, name, n).await?;
            if n >= o.warmup {
                let t = times.entry(name.clone()).or_default();
                t.start.push(start);
                t.teardown.push(teardown);
                for (p, s) in phases {
                    t.phases.entry(p).or_default().push(s);
                }
            }
        }
    }
    let out: serde_json::Map<String, serde_json::Value> = times
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                serde_json::json!({"start": t.start, "teardown": t.teardown, "phases": t.phases}),
            )
        })
        .collect();
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

async fn pull(sock: PathBuf, images: &[String]) -> Result<(), Error> {
    let mut c = proto::image_service_client::ImageServiceClient::new(connect(sock.clone()).await?);
    for image in images {
        c.pull_image(proto::PullImageRequest {
            image: Some(proto::ImageSpec {
                image: image.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("{}: pulling {image}: {e}", sock.display()))?;
    }
    Ok(())
}

async fn clean(sock: PathBuf) -> Result<(), Error> {
    let mut c = RuntimeServiceClient::new(connect(sock).await?);
    let pods = c
        .list_pod_sandbox(proto::ListPodSandboxRequest { filter: None })
        .await?
        .into_inner()
        .items;
    for p in pods {
        c.stop_pod_sandbox(proto::StopPodSandboxRequest {
            pod_sandbox_id: p.id.clone(),
        })
        .await?;
        c.remove_pod_sandbox(proto::RemovePodSandboxRequest {
            pod_sandbox_id: p.id,
        })
        .await?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cri_bench: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async {
        match args.first().map(String::as_str) {
            Some("pull") if args.len() >= 3 => pull(args[1].clone().into(), &args[2..]).await,
            Some("clean") if args.len() == 2 => clean(args[1].clone().into()).await,
            Some("run") => run(parse_run(&args[1..])?).await,
            _ => Err("usage: cri_bench pull SOCKET IMAGE... | cri_bench clean SOCKET | cri_bench run [--rounds N] [--warmup N] [--image IMAGE] [--log-dir DIR] [--cgroup-parent PREFIX] NAME=SOCKET...".into()),
        }
    });
    if let Err(e) = result {
        eprintln!("cri_bench: {e}");
        std::process::exit(1);
    }
}
