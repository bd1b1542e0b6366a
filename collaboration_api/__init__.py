"""The collaboration API: one package per business area, thin routers over services."""
