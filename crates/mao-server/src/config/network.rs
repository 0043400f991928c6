//! `listen` and `advertise_url`: where the API listens and how others reach it.

use std::net::{Ipv4Addr, SocketAddr};

use super::error::{ConfigError, Origins};

/// Where the API listens and how others reach it.
#[derive(clap::Args, Debug, Default)]
pub(super) struct NetworkLayer {
    /// Address the HTTP API listens on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT", value_parser = socket_addr)]
    pub listen: Option<SocketAddr>,
    /// URL other nodes and clients use to reach this API [default: http://<listen>].
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,
}

/// The listening address, and the URL published for it.
pub(super) struct Network {
    pub listen: SocketAddr,
    pub advertise_url: String,
}

impl NetworkLayer {
    pub(super) fn resolve(self, origins: &Origins) -> Result<Network, ConfigError> {
        let listen = self
            .listen
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)));
        let advertise_url = match self.advertise_url {
            Some(url) => {
                mao_api::validate::http_endpoint("advertise_url", &url)
                    .map_err(|e| origins.bad("advertise_url", format!("{url:?} {}", e.message)))?;
                url.trim_end_matches('/').to_owned()
            }
            None => format!("http://{listen}"),
        };
        Ok(Network {
            listen,
            advertise_url,
        })
    }
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not ADDR:PORT, e.g. 127.0.0.1:8080"))
}
