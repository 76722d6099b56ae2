"""The one S3 stack: client, errors and transfers shared by the artifact store and the data client.

As in Metaflow, where the datastore is a thin layer over its one S3 client, every S3 byte goes
through here:

* :mod:`.client`: the boto3 client and its credentials (the Airflow connection inside Airflow, the
  standard AWS chain elsewhere), built in one place;
* :mod:`.errors`: one error family (:class:`S3Error` and its subclasses) and one reading of
  botocore's errors;
* :mod:`.transfer` (+ :mod:`.primitives`): one engine for ranged parallel GETs into memory or a
  file, multipart uploads and bounded retries, with one range size (16 MB) documented there.

Its faces: :class:`airflow_ml_provider.datastore.s3.S3Backend` (``s3://`` artifact roots) and
:class:`airflow_ml_provider.data.S3` (steps). Importing this package loads neither boto3 nor
Airflow; only :func:`.client.make_s3_client` uses Airflow, when the process has imported it.
"""

from __future__ import annotations

from airflow_ml_provider.s3.errors import S3AccessDenied, S3Error, S3NotFound, S3URLError

__all__ = ["S3AccessDenied", "S3Error", "S3NotFound", "S3URLError"]
