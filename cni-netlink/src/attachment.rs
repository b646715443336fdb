//! [`Attachment`]: how CNI names one pod interface.

/// One pod interface: the container id and the interface name inside the pod, as CNI identifies an
/// attachment (`CNI_CONTAINERID` + `CNI_IFNAME`, and the entries of a GC's `validAttachments`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
}

impl Attachment {
    /// Builds an attachment from a container id and an interface name.
    pub fn new(container_id: impl Into<String>, ifname: impl Into<String>) -> Attachment {
        Attachment {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }
}
