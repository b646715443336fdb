//! Network-namespace handles and the two safe ways to act inside one.
//!
//! `setns(2)` moves only the calling thread, and every thread or process created afterwards inherits
//! the namespace. A tokio worker that entered a pod namespace would keep running unrelated tasks
//! there, so this module never calls `setns` on a thread it did not create itself:
//!
//! * [`NetNs::connect`] creates the netlink socket on a short-lived thread that entered the
//!   namespace. A socket stays bound to the namespace it was created in, so the returned
//!   [`Netlink`] handle can be used from any task afterwards.
//! * [`NetNs::run_blocking`] and [`NetNs::run`] run a closure on a fresh OS thread that entered the
//!   namespace and ends afterwards (for `/proc/sys` writes, ioctls, binding sockets).
//! * [`NetNs::spawn_thread`] starts one such thread that stays in the namespace and runs closures
//!   sent to it ([`NsThread`]) until its handle is dropped, for a caller that acts in the
//!   namespace more than once (a plugin's ADD: the netlink socket, then the interface's sysctls)
//!   and would otherwise start a thread for each.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sched::{CloneFlags, setns};
use nix::sys::stat::fstat;
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::error::{Error, Result};
use crate::handle::Netlink;

/// The path of the calling thread's own network namespace. `/proc/self/ns/net` would name the
/// thread-group leader's namespace instead, which differs whenever one thread has moved.
/// The receiving end of a netlink notification subscription.
pub(crate) type Events = futures::channel::mpsc::UnboundedReceiver<(
    rtnetlink::packet_core::NetlinkMessage<rtnetlink::packet_route::RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

const THREAD_SELF_NET: &str = "/proc/thread-self/ns/net";

/// An open network namespace: an owned file descriptor plus the path it was opened from and its
/// identity (device and inode of the nsfs file).
///
/// Cloning is cheap and shares the descriptor. The namespace stays alive at least as long as any
/// clone (or a [`Netlink`] handle made from it) exists.
#[derive(Clone)]
pub struct NetNs {
    inner: Arc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    path: PathBuf,
    dev: u64,
    inode: u64,
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetNs")
            .field("path", &self.inner.path)
            .field("inode", &self.inner.inode)
            .field("fd", &self.inner.fd.as_raw_fd())
            .finish()
    }
}

impl NetNs {
    /// Opens the network namespace at `path` (for example `CNI_NETNS`, `/var/run/netns/x`,
    /// `/proc/<pid>/ns/net` or `/proc/<pid>/fd/<n>`).
    ///
    /// Errors: a missing path is [`Error::NotFound`]; a path that exists but is not a network
    /// namespace (a regular file, a directory, another kind of namespace) is
    /// [`Error::InvalidInput`]; an unreadable one is [`Error::PermissionDenied`].
    pub fn open(path: impl AsRef<Path>) -> Result<NetNs> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::io(e, format!("opening network namespace {}", path.display())))?;
        NetNs::from_fd(OwnedFd::from(file), path)
    }

    /// The network namespace of the calling thread (read from `/proc/thread-self/ns/net`).
    ///
    /// Called from a plugin's main thread or a runtime worker this is the "host" namespace.
    pub fn current_thread() -> Result<NetNs> {
        let file = std::fs::File::open(THREAD_SELF_NET)
            .map_err(|e| Error::io(e, format!("opening network namespace {THREAD_SELF_NET}")))?;
        // The kernel's own link to the thread's network namespace: no need to ask whether it is
        // one, as NetNs::from_fd does for paths from elsewhere.
        let fd = OwnedFd::from(file);
        let st = fstat(&fd)
            .map_err(|e| Error::from_errno(e as i32, format!("fstat on {THREAD_SELF_NET}")))?;
        Ok(NetNs {
            inner: Arc::new(Inner {
                fd,
                path: PathBuf::from(THREAD_SELF_NET),
                dev: st.st_dev,
                inode: st.st_ino,
            }),
        })
    }

    /// Creates a new, empty network namespace (only a down loopback in it) and returns its handle.
    ///
    /// CNI plugins never need this (the runtime makes the pod's namespace and passes
    /// `CNI_NETNS`); runtimes, tests, demos and benchmarks do. The namespace is made by
    /// `unshare(CLONE_NEWNET)` on a short-lived thread of its own, so no other thread moves, and it
    /// is held only by the returned descriptor: when the last clone of the handle (and every
    /// [`Netlink`] made from it) is dropped, or the process ends however it ends, the kernel
    /// destroys it with everything in it. Nothing is mounted. Its [`path`](NetNs::path),
    /// `/proc/<pid>/fd/<n>`, names it for child processes (as `CNI_NETNS`) while this process
    /// lives.
    ///
    /// Errors: without `CAP_SYS_ADMIN` over the current user namespace,
    /// [`Error::PermissionDenied`] (run as root, or inside a user namespace of one's own such as
    /// `unshare -rn`).
    pub fn create() -> Result<NetNs> {
        let fd: OwnedFd = std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<OwnedFd> {
                    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
                        Error::from_errno(e as i32, "unshare(CLONE_NEWNET) for a new namespace")
                    })?;
                    let file = std::fs::File::open(THREAD_SELF_NET)
                        .map_err(|e| Error::io(e, "opening the new network namespace"))?;
                    Ok(OwnedFd::from(file))
                })
                .join()
                .map_err(|_| Error::Internal("the namespace-creating thread panicked".into()))?
        })?;
        let path = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            fd.as_raw_fd()
        ));
        NetNs::from_fd(fd, path)
    }

    /// Wraps an already open descriptor, checking that it refers to a network namespace.
    /// `path` is only remembered for messages and [`NetNs::path`].
    pub fn from_fd(fd: OwnedFd, path: impl Into<PathBuf>) -> Result<NetNs> {
        let path = path.into();
        let fs = fstatfs(&fd)
            .map_err(|e| Error::from_errno(e as i32, format!("fstatfs on {}", path.display())))?;
        if fs.filesystem_type() != NSFS_MAGIC {
            return Err(Error::invalid_input(format!(
                "{} is not a namespace file (it is not on nsfs)",
                path.display()
            )));
        }
        // Any namespace file lives on nsfs; ask the kernel which kind this one is. (Reading the
        // descriptor back through /proc/self/fd would not do: for a bind-mounted namespace such
        // as /var/run/netns/x it shows the mount path, not "net:[inode]".)
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which `fd` keeps
        // open for the duration of the call.
        let nstype = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) };
        if nstype < 0 {
            return Err(Error::io(
                std::io::Error::last_os_error(),
                format!(
                    "asking the kernel what kind of namespace {} is",
                    path.display()
                ),
            ));
        }
        if nstype != libc::CLONE_NEWNET {
            return Err(Error::invalid_input(format!(
                "{} is a {} namespace, not a network namespace",
                path.display(),
                namespace_kind(nstype)
            )));
        }
        let st = fstat(&fd)
            .map_err(|e| Error::from_errno(e as i32, format!("fstat on {}", path.display())))?;
        Ok(NetNs {
            inner: Arc::new(Inner {
                fd,
                path,
                dev: st.st_dev,
                inode: st.st_ino,
            }),
        })
    }

    /// The path this namespace was opened from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The inode number of the namespace (what `ip netns identify` and `/proc/*/ns/net` show).
    pub fn inode(&self) -> u64 {
        self.inner.inode
    }

    /// The device number of nsfs; together with [`NetNs::inode`] it identifies the namespace.
    pub fn device(&self) -> u64 {
        self.inner.dev
    }

    /// True when both handles refer to the same namespace (same nsfs device and inode).
    pub fn is_same(&self, other: &NetNs) -> bool {
        self.inner.dev == other.inner.dev && self.inner.inode == other.inner.inode
    }

    /// True when this is the calling thread's own network namespace.
    ///
    /// One `stat` of `/proc/thread-self/ns/net` (its nsfs device and inode), asked anew on every
    /// call: a thread's namespace can change under any cache (`setns` by code outside this
    /// crate), and a stale answer would make [`NetNs::sysctl_set`] write into the wrong one.
    pub fn is_current_thread(&self) -> Result<bool> {
        let st = nix::sys::stat::stat(THREAD_SELF_NET)
            .map_err(|e| Error::from_errno(e as i32, format!("stat on {THREAD_SELF_NET}")))?;
        Ok(self.inner.dev == st.st_dev && self.inner.inode == st.st_ino)
    }

    /// Fails with [`Error::InvalidInput`] when this namespace is the calling thread's own one.
    ///
    /// A plugin calls this on `CNI_NETNS` to refuse a "pod" namespace that is really the host's:
    /// moving a veth end "into" it, or deleting its interfaces, would hit the host.
    pub fn ensure_not_current_thread(&self) -> Result<()> {
        if self.is_current_thread()? {
            return Err(Error::invalid_input(format!(
                "{} is the caller's own network namespace, not a separate container namespace",
                self.path().display()
            )));
        }
        Ok(())
    }

    /// Runs `f` on a fresh OS thread that has entered this namespace, waits for it and returns its
    /// result. The thread ends afterwards, so no thread is ever left in the namespace.
    ///
    /// `f` may borrow from the caller. It must be synchronous; anything resolved per thread at call
    /// time (`/proc/sys/net`, ioctls, new sockets, spawned processes) sees this namespace. This call
    /// blocks the calling thread for the duration of `f` plus a thread start (tens of
    /// microseconds); inside async code prefer [`NetNs::run`] for long closures.
    ///
    /// Errors: entering the namespace fails ([`Error::PermissionDenied`] without `CAP_SYS_ADMIN`),
    /// the thread cannot be started, or `f` panics ([`Error::Internal`]).
    pub fn run_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("cni-netns".into())
                .spawn_scoped(scope, || {
                    self.enter_this_thread()?;
                    Ok(f())
                })
                .map_err(|e| Error::io(e, "starting a thread for a namespace"))?;
            handle.join().map_err(|_| {
                Error::Internal("a closure run in a network namespace panicked".into())
            })?
        })
    }

    /// Like [`NetNs::run_blocking`], but does not block the calling thread: `f` runs on a fresh OS
    /// thread in the namespace and the returned future resolves with its result.
    pub async fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let ns = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("cni-netns".into())
            .spawn(move || {
                let result = ns.enter_this_thread().map(|()| f());
                // The receiver may be gone (the caller's future was dropped); nothing to do then.
                let _ = tx.send(result);
            })
            .map_err(|e| Error::io(e, "starting a thread for a namespace"))?;
        rx.await
            .map_err(|_| Error::Internal("a closure run in a network namespace panicked".into()))?
    }

    /// Opens a netlink handle bound to this namespace. Its socket is created on a short-lived
    /// thread that entered the namespace (or directly, when this already is the calling thread's
    /// namespace); no runtime thread changes namespace.
    ///
    /// Errors: the namespace cannot be entered, or the socket cannot be created.
    pub async fn connect(&self) -> Result<Netlink> {
        if self.is_current_thread()? {
            return self.connect_here();
        }
        let ns = self.clone();
        self.run(move || {
            let context = || format!("creating a netlink socket in {}", ns.path().display());
            Netlink::open_here(ns.clone(), &context)
        })
        .await?
    }

    /// Opens a netlink handle on the calling thread, which must be in this namespace.
    pub(crate) fn connect_here(&self) -> Result<Netlink> {
        Netlink::open_here(self.clone(), &|| "creating a netlink socket".to_owned())
    }

    /// Opens a netlink socket in this namespace subscribed to `groups` and spawns its driver on the
    /// current runtime. Returns the receiver of the notifications and the driver task, which the
    /// caller aborts when done.
    pub(crate) async fn subscribe(
        &self,
        groups: &'static [rtnetlink::MulticastGroup],
    ) -> Result<(Events, tokio::task::JoinHandle<()>)> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::invalid_input("netlink notifications need a tokio runtime"))?;
        let rt = runtime.clone();
        let (connection, _handle, events) = self
            .run(move || {
                let _guard = rt.enter();
                rtnetlink::new_multicast_connection(groups)
                    .map_err(|e| Error::io(e, "creating a netlink notification socket"))
            })
            .await??;
        Ok((events, runtime.spawn(connection)))
    }

    /// Moves the calling thread into this namespace. Only ever called on threads this module
    /// created and that end right after their work.
    fn enter_this_thread(&self) -> Result<()> {
        setns(&self.inner.fd, CloneFlags::CLONE_NEWNET).map_err(|e| self.enter_error(e))
    }

    fn enter_error(&self, errno: nix::errno::Errno) -> Error {
        Error::from_errno(
            errno as i32,
            format!("entering network namespace {}", self.path().display()),
        )
    }

    /// Starts a thread of its own that enters this namespace and stays there, running the
    /// closures given to [`NsThread::run`] one after the other, until the returned handle is
    /// dropped; then it ends. Like [`NetNs::run`], but one thread start for any number of
    /// closures.
    ///
    /// Errors: the thread cannot be started. Entering the namespace happens on the new thread;
    /// when it fails, every [`NsThread::run`] returns that error and runs nothing.
    ///
    /// The thread starts on another CPU than the calling thread's, when the process may use
    /// another: a new thread otherwise tends to be queued behind its creator on the creator's
    /// CPU and to run only once the creator waits, which defeats handing it work to do
    /// meanwhile. From its first closure on it may run on any of the process's CPUs again.
    pub fn spawn_thread(&self) -> Result<NsThread> {
        Ok(self.spawn_thread_after(|| ())?.0)
    }

    /// Like [`NetNs::spawn_thread`], but the new thread first runs `first` in the namespace it
    /// starts in, the calling thread's, and only then enters this one; the returned future
    /// resolves with what `first` returned. For work of the caller's namespace that the caller
    /// wants done off its own path while it goes on (opening the node's sysctl directories,
    /// [`crate::sysctl::NetSysctls::open_current`], while the plugin's thread opens its netlink
    /// sockets), without a second thread.
    ///
    /// Errors: the thread cannot be started; the future: the thread ended without an answer
    /// (`first` panicked: [`Error::Internal`]).
    pub fn spawn_thread_after<F, T>(
        &self,
        first: F,
    ) -> Result<(NsThread, impl Future<Output = Result<T>> + Send + 'static)>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (done, first_result) = tokio::sync::oneshot::channel();
        let ns = self.clone();
        let cpus = affinity::Elsewhere::now();
        let restore = cpus.as_ref().map(|cpus| cpus.all);
        let handle = std::thread::Builder::new()
            .name("cni-netns".into())
            .spawn(move || {
                // The receiver may be gone (its future was dropped); nothing to do then.
                let _ = done.send(first());
                let entered = setns(&ns.inner.fd, CloneFlags::CLONE_NEWNET);
                let mut restore = restore;
                while let Ok(job) = queue.recv() {
                    // The creator moved this thread before it sent any closure.
                    if let Some(all) = restore.take() {
                        affinity::set_own(&all);
                    }
                    job(entered.map_err(|e| ns.enter_error(e)));
                }
            })
            .map_err(|e| Error::io(e, "starting a thread for a namespace"))?;
        if let Some(cpus) = cpus {
            cpus.apply(&handle);
        }
        let first = async move {
            first_result.await.map_err(|_| {
                Error::Internal("the namespace thread ended before its first closure's end".into())
            })
        };
        Ok((
            NsThread {
                ns: self.clone(),
                jobs,
            },
            first,
        ))
    }
}

/// Starting a helper thread on another CPU than its creator's.
mod affinity {
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    unsafe extern "C" {
        // In glibc and in musl; the libc crate declares it for neither on Linux.
        fn pthread_setaffinity_np(
            thread: libc::pthread_t,
            size: libc::size_t,
            set: *const libc::cpu_set_t,
        ) -> libc::c_int;
    }

    /// The process's CPUs but the calling thread's current one, and all of them (to restore).
    pub(super) struct Elsewhere {
        others: CpuSet,
        /// All of the process's CPUs, which the moved thread takes back ([`set_own`]).
        pub(super) all: CpuSet,
    }

    impl Elsewhere {
        /// `None` when there is no other CPU to go to (or the kernel does not say).
        pub(super) fn now() -> Option<Elsewhere> {
            let all = sched_getaffinity(Pid::from_raw(0)).ok()?;
            let mut others = all;
            others.unset(sched_getcpu().ok()?).ok()?;
            let any = (0..CpuSet::count()).any(|cpu| others.is_set(cpu).unwrap_or(false));
            any.then_some(Elsewhere { others, all })
        }

        /// Moves the (not yet running, or just started) thread of `handle` to the other CPUs.
        /// Best effort: on failure it simply stays where the kernel put it.
        pub(super) fn apply<T>(&self, handle: &std::thread::JoinHandle<T>) {
            use std::os::unix::thread::JoinHandleExt;
            // SAFETY: `as_pthread_t` is the handle's own, live thread (it is not joined or
            // detached before this returns), so the pthread_t is valid; the set is a valid
            // cpu_set_t (CpuSet wraps exactly one), read for the duration of the call only.
            let set: *const CpuSet = &self.others;
            unsafe {
                pthread_setaffinity_np(
                    handle.as_pthread_t() as libc::pthread_t,
                    std::mem::size_of::<libc::cpu_set_t>(),
                    set.cast::<libc::cpu_set_t>(),
                );
            }
        }
    }

    /// Lets the calling thread run on `cpus`. Best effort.
    pub(super) fn set_own(cpus: &CpuSet) {
        let _ = sched_setaffinity(Pid::from_raw(0), cpus);
    }
}

/// A closure for an [`NsThread`], given whether the thread is in its namespace.
type Job = Box<dyn FnOnce(Result<()>) + Send>;

/// A thread that stays inside one network namespace and runs closures there ([`NetNs::spawn_thread`]).
///
/// The thread does nothing but wait for work; dropping the handle ends it, so no thread outlives
/// the handle in the namespace. Closures run one at a time, in the order they were given.
pub struct NsThread {
    ns: NetNs,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl fmt::Debug for NsThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NsThread").field("netns", &self.ns).finish()
    }
}

impl NsThread {
    /// The namespace the thread runs in.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// Runs `f` on the thread, inside the namespace, and resolves with its result; the calling
    /// thread is not blocked meanwhile.
    ///
    /// Errors: the thread could not enter the namespace (the error of `setns`), or it has ended
    /// (`f` or an earlier closure panicked: [`Error::Internal`]).
    pub async fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.start(f)?.await
    }

    /// Opens a netlink handle bound to the namespace (its socket is created on the thread), like
    /// [`NetNs::connect`].
    ///
    /// Errors: as [`NsThread::run`], or the socket cannot be created.
    pub async fn connect(&self) -> Result<Netlink> {
        self.start_connect()?.await
    }

    /// Like [`NsThread::connect`], but hands the job to the thread at once (as
    /// [`NsThread::start`] does), so the socket is made while the caller does other work
    /// before it awaits it, and in the order of the thread's other jobs.
    ///
    /// Errors: the thread has ended; the future: as [`NsThread::run`], or the socket cannot be
    /// created.
    pub fn start_connect(&self) -> Result<impl Future<Output = Result<Netlink>> + Send + 'static> {
        let ns = self.ns.clone();
        let opened = self.start(move || {
            let context = || format!("creating a netlink socket in {}", ns.path().display());
            Netlink::open_here(ns.clone(), &context)
        })?;
        Ok(async move { opened.await? })
    }

    /// Hands `f` to the thread at once and returns a future of its result: unlike
    /// [`NsThread::run`], whose closure is queued only when its future is first polled, the
    /// closure may already be running while the caller does other work before awaiting. The
    /// future needs no runtime of its own and borrows nothing, so it can be kept across other
    /// `.await`s or dropped (the closure still runs; its result is discarded).
    ///
    /// Errors: the thread has ended, here or when awaited; entering the namespace failed, when
    /// awaited (both as [`NsThread::run`]).
    pub fn start<F, R>(&self, f: F) -> Result<impl Future<Output = Result<R>> + Send + 'static>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |entered: Result<()>| {
            // The receiver may be gone (the caller's future was dropped); nothing to do then.
            let _ = tx.send(entered.map(|()| f()));
        });
        let ended =
            || Error::Internal("the namespace thread has ended (a closure panicked)".into());
        self.jobs.send(job).map_err(|_| ended())?;
        Ok(async move { rx.await.map_err(|_| ended())? })
    }
}

/// The name of a namespace type as `NS_GET_NSTYPE` reports it.
fn namespace_kind(nstype: libc::c_int) -> &'static str {
    match nstype {
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWTIME => "time",
        _ => "different",
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}
