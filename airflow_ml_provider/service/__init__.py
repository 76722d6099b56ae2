"""Results as a web service: ``WebServiceSpec`` endpoints over a flow's latest artifacts.

::

    from airflow_ml_provider import WebServiceSpec, endpoint

    class MyWebService(WebServiceSpec):
        flow = "MyFlow"

        @endpoint
        def show_data(self, request_dict):
            return {"result": self.artifacts.flow.x}

``airflow-ml-provider serve service.py --port 8000`` then answers ``curl :8000/show_data`` with
``{"result": 3}`` from the latest successful run of MyFlow, and switches to a newer successful
run without a restart.

Modules, one concern each:

- ``spec``: ``WebServiceSpec``, ``@endpoint``, ``BadRequest`` (no FastAPI import);
- ``snapshot``: a run version (artifacts + the instance ``setup()`` built), the atomic swap, the
  poller thread, and "keep the last good version" on any failure;
- ``app``: the FastAPI app (routes, JSON errors, ``/health``, ``/ready``, ``/docs``, access log);
- ``server``: loading the service file and running uvicorn (one or several workers).

Decision: the endpoints are NOT mounted inside the Airflow api-server through the plugin.
Serving means unpickling artifacts and running user code (``setup`` loads a model, endpoints
call it); inside the api-server that code would run with the api-server's database credentials
and secrets, share its memory and event loop (a 10 GB model or a blocking call would stall the
Airflow UI for everyone), need every model dependency installed in the Airflow image, and crash
the UI with it. It would also break a rule of this project: the API server never unpickles or
executes artifact contents (its "Artifacts" view shows previews computed by the steps). Airflow's
auth protects human UI users; a prediction service has other clients, scaling and uptime needs.
So the service is a separate process (``airflow-ml-provider serve``), deployed with the step image
as its own Kubernetes Deployment (``docker/service-deployment.yaml``), reading the store with
read-only credentials. Put it behind an ingress/gateway for authentication when it needs one.
"""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.service.spec import BadRequest, ServiceSpecError, WebServiceSpec, endpoint

__all__ = ["BadRequest", "ServiceSpecError", "WebServiceSpec", "build_app", "endpoint", "serve"]


def __getattr__(name: str) -> Any:
    # build_app / serve pull in FastAPI and uvicorn: only when asked for.
    if name in ("build_app", "serve"):
        from airflow_ml_provider.service import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
