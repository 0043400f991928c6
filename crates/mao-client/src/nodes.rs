//! The members of the federation and the daemon's own health and readiness.

use mao_api::{NodeInfo, Readiness};

use crate::{api_error, decode, read_body, Client, Error};

impl Client {
    /// The live members of the federation, following `next` across pages.
    pub fn list_nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        self.list_all("/api/v1/nodes")
    }

    /// `Ok` when the daemon answers `GET /healthz` with `{"status":"ok"}`.
    pub fn health(&self) -> Result<(), Error> {
        let url = self.url("/healthz");
        let doc: serde_json::Value = self.call(self.agent.get(&url), None::<&()>)?;
        match doc.get("status").and_then(|s| s.as_str()) {
            Some("ok") => Ok(()),
            _ => Err(Error::Decode {
                url,
                source: format!("expected {{\"status\":\"ok\"}}, got {doc}").into(),
            }),
        }
    }

    /// The daemon's readiness; a 503 carrying a [`Readiness`] is `Ok` with `ready: false`.
    pub fn ready(&self) -> Result<Readiness, Error> {
        let url = self.url("/readyz");
        match self.agent.get(&url).call() {
            Ok(response) => decode(&self.endpoint, &url, response),
            Err(ureq::Error::Status(503, response)) => {
                let body = read_body(&self.endpoint, response)?;
                match serde_json::from_slice::<Readiness>(&body) {
                    Ok(readiness) => Ok(readiness),
                    Err(_) => Err(api_error(&url, 503, &body)),
                }
            }
            Err(e) => Err(self.map_error(e)?),
        }
    }
}

/// How long a join may take on the peer (it retries while etcd settles, up to 20 s).
const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Client {
    /// `GET /api/v1/federation/status`: etcd members, mao nodes, and which match.
    pub fn federation_status(&self) -> Result<mao_api::federation::FederationStatus, Error> {
        self.get("/api/v1/federation/status")
    }

    /// `POST /api/v1/federation/join` (a token of the role `join`): adds this site's etcd
    /// member and answers what it needs to start it.
    pub fn federation_join(
        &self,
        request: &mao_api::federation::JoinRequest,
    ) -> Result<mao_api::federation::JoinResponse, Error> {
        // The peer may wait for etcd to settle before it adds the member.
        let request_url = self.url("/api/v1/federation/join");
        let call = self.agent.post(&request_url).timeout(JOIN_TIMEOUT);
        self.call(call, Some(request))
    }

    /// `DELETE /api/v1/federation/members/{id}[?force=true]`: removes an etcd member.
    pub fn federation_remove(&self, id: &str, force: bool) -> Result<(), Error> {
        let path = crate::endpoint::item_path("/api/v1/federation/members", id)?;
        let mut request = self.agent.delete(&self.url(&path));
        if force {
            request = request.query("force", "true");
        }
        self.delete_request(request)
    }

    /// `GET /api/v1/federation/ca`: the federation's CA certificate (PEM).
    pub fn federation_ca(&self) -> Result<String, Error> {
        let url = self.url("/api/v1/federation/ca");
        match self.agent.get(&url).call() {
            Ok(response) => {
                let body = read_body(&self.endpoint, response)?;
                String::from_utf8(body).map_err(|e| Error::Decode {
                    url,
                    source: e.into(),
                })
            }
            Err(e) => Err(self.map_error(e)?),
        }
    }
}
