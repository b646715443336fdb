//! The runtime side, libcni-style: execute a network config list for one attachment, cache the
//! result, and load configs from a directory.

mod base64;
pub mod cache;
mod confdir;
mod exec_list;

pub use cache::{CacheEntry, CachedAttachment, DEFAULT_CACHE_DIR, ResultCache};
pub use confdir::{conf_files, load_conf_list, load_conf_lists};
pub use exec_list::{CniRuntime, RuntimeConf};
