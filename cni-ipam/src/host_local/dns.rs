//! Reading a resolv.conf-style file into a result's DNS settings (Go host-local's `dns.go`).

use std::path::Path;

use cni_types::Dns;

use crate::error::{IpamError, Result};

/// Parses resolv.conf text: `nameserver` (one address per line), `domain`, `search` and
/// `options` lines; blank lines and lines starting with `#` or `;` are skipped, as are
/// lines with fewer than two fields and unknown keywords.
pub fn parse_resolv_conf(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(key), Some(first)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        let rest = fields.iter().skip(1).map(|s| (*s).to_string());
        match *key {
            "nameserver" => dns.nameservers.push((*first).to_string()),
            "domain" => dns.domain = Some((*first).to_string()),
            "search" => dns.search.extend(rest),
            "options" => dns.options.extend(rest),
            _ => {}
        }
    }
    dns
}

/// Reads and parses the file at `path` (an unreadable file is an I/O error, code 5).
pub fn read_resolv_conf(path: &Path) -> Result<Dns> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| IpamError::io(format!("reading resolvConf {}", path.display()), e))?;
    Ok(parse_resolv_conf(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go dns_test.go: a simple file, comments ignored, every field parsed.
    #[test]
    fn simple() {
        let dns = parse_resolv_conf("nameserver 10.1.2.123\n");
        assert_eq!(dns.nameservers, ["10.1.2.123"]);
        assert!(dns.domain.is_none() && dns.search.is_empty() && dns.options.is_empty());
    }

    #[test]
    fn comments_ignored() {
        let dns =
            parse_resolv_conf("nameserver 10.1.2.123\n# nameserver 10.1.2.124\n; domain x\n  \n");
        assert_eq!(dns.nameservers, ["10.1.2.123"]);
        assert!(dns.domain.is_none());
    }

    #[test]
    fn all_fields() {
        let dns = parse_resolv_conf(
            "nameserver 10.1.2.123\nnameserver 10.1.2.124\ndomain example.com\nsearch example.com example.net\noptions ndots:5 rotate\noptions attempts:2\nbogus x\nnameserver\n",
        );
        assert_eq!(dns.nameservers, ["10.1.2.123", "10.1.2.124"]);
        assert_eq!(dns.domain.as_deref(), Some("example.com"));
        assert_eq!(dns.search, ["example.com", "example.net"]);
        assert_eq!(dns.options, ["ndots:5", "rotate", "attempts:2"]);
    }

    #[test]
    fn missing_file_is_io() {
        let e = read_resolv_conf(Path::new("/nonexistent/resolv.conf")).unwrap_err();
        assert_eq!(e.code(), 5);
    }
}
