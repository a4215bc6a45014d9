//! What the operator does: create the accounts of managers and carriers.

use doorman_api::{CreateNamed, Created};
use doorman_domain::{Carrier, CarrierId, EventKind, Manager, ManagerId, Principal};

use crate::audit::Scope;

use crate::{auth, text_field, Service, ServiceError, ServiceResult};

fn require_operator(p: &Principal) -> ServiceResult<()> {
    match p {
        Principal::Operator => Ok(()),
        _ => Err(ServiceError::Forbidden("only the operator may do this")),
    }
}

impl Service {
    pub async fn create_manager(&self, p: &Principal, req: CreateNamed) -> ServiceResult<Created<Manager>> {
        require_operator(p)?;
        let manager =
            Manager { id: ManagerId::random(), name: text_field("name", &req.name, 200)?, created_at: self.now() };
        let (token, record) =
            auth::new_token(Principal::Manager { manager_id: manager.id }, "manager", manager.created_at)?;
        let what = format!("manager {} ({}) created", manager.name, manager.id);
        let event = self.event(EventKind::ConfigurationChanged { what }, Scope::default(), p)?;
        self.store.insert_manager(&manager, &record, &[event]).await?;
        self.events_appended();
        Ok(Created { item: manager, token })
    }

    /// The managers, for the operator and managers; `name` keeps those whose
    /// name contains it, ignoring case.
    pub async fn list_managers(&self, p: &Principal, name: Option<&str>) -> ServiceResult<Vec<Manager>> {
        Service::may_list_parties(p)?;
        let name = Service::name_filter(name)?;
        Ok(Service::named(self.store.list_managers().await?, name.as_deref(), |m| &m.name))
    }

    pub async fn create_carrier(&self, p: &Principal, req: CreateNamed) -> ServiceResult<Created<Carrier>> {
        require_operator(p)?;
        let carrier =
            Carrier { id: CarrierId::random(), name: text_field("name", &req.name, 200)?, created_at: self.now() };
        let (token, record) =
            auth::new_token(Principal::Carrier { carrier_id: carrier.id }, "carrier", carrier.created_at)?;
        let what = format!("carrier {} ({}) created", carrier.name, carrier.id);
        let event = self.event(
            EventKind::ConfigurationChanged { what },
            Scope { carrier: Some(carrier.id), ..Scope::default() },
            p,
        )?;
        self.store.insert_carrier(&carrier, &record, &[event]).await?;
        self.events_appended();
        Ok(Created { item: carrier, token })
    }

    /// The carriers, for the operator and managers; `name` keeps those whose
    /// name contains it, ignoring case.
    pub async fn list_carriers(&self, p: &Principal, name: Option<&str>) -> ServiceResult<Vec<Carrier>> {
        Service::may_list_parties(p)?;
        let name = Service::name_filter(name)?;
        Ok(Service::named(self.store.list_carriers().await?, name.as_deref(), |c| &c.name))
    }
}
