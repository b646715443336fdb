//! GC input: the attachments that are still valid.

use serde::{Deserialize, Serialize};

/// One attachment (container id + interface name), as listed in a GC config's
/// `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GcAttachment {
    /// `CNI_CONTAINERID` of the attachment.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// `CNI_IFNAME` of the attachment.
    pub ifname: String,
}

impl GcAttachment {
    /// An attachment of `container_id` through `ifname`.
    pub fn new(container_id: impl Into<String>, ifname: impl Into<String>) -> Self {
        GcAttachment {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }
}

/// The config key the spec uses for the valid attachments of GC.
pub const VALID_ATTACHMENTS_KEY: &str = "cni.dev/valid-attachments";

/// The key the first GC text used; the reference runtime sends both.
pub const LEGACY_ATTACHMENTS_KEY: &str = "cni.dev/attachments";
