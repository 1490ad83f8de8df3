//! `stsguard validate --cluster`: each kind listed once (in pages), folded as the webhook's
//! watches fold it ([`Folded`]), for one offline run against a cluster.

use futures::FutureExt;
use futures::future::BoxFuture;
use kube::Client;
use kube::api::ListParams;

use super::kinds::{Folded, Kind, WithKind};
use super::{Unavailable, kinds};
use crate::engine::cluster::Inventory;

/// Objects per page: the API server's own default page size for kubectl.
const PAGE: u32 = 500;

/// What was read of the cluster.
#[derive(Debug, Default)]
pub struct Listed {
    pub inventory: Inventory,
    /// Kinds that could not be listed, and why: their rules are off.
    pub unavailable: Vec<(Kind, Unavailable)>,
}

/// Lists every kind (Secrets only with `secrets`). A kind RBAC forbids or the cluster does
/// not serve is left unknown and reported; any other failure (the cluster unreachable, bad
/// credentials) ends the listing with that error.
pub async fn list(client: Client, secrets: bool) -> Result<Listed, kube::Error> {
    let mut listed = Listed::default();
    for kind in kinds(secrets) {
        let result = kind
            .with(ListKind {
                client: &client,
                inventory: &mut listed.inventory,
            })
            .await;
        if let Err(error) = result {
            match Unavailable::of(&error) {
                Some(why) => listed.unavailable.push((kind, why)),
                None => return Err(error),
            }
        }
    }
    Ok(listed)
}

/// Lists one kind into an inventory.
struct ListKind<'a> {
    client: &'a Client,
    inventory: &'a mut Inventory,
}

impl<'a> WithKind for ListKind<'a> {
    type Output = BoxFuture<'a, kube::Result<()>>;

    fn with<K: Folded>(self) -> Self::Output {
        list_kind::<K>(self.client, self.inventory).boxed()
    }
}

/// Lists one kind page by page into `inventory`.
async fn list_kind<K: Folded>(client: &Client, inventory: &mut Inventory) -> kube::Result<()> {
    let mut state = K::State::default();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = K::list(client.clone(), params.clone()).await?;
        for object in &page.items {
            K::upsert(&mut state, object);
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    K::publish(&state, inventory);
    Ok(())
}
