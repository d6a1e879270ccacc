"""taller_mlflow: the Palmer penguins classifier as a small MLOps stack.

The notebook, the training CLI and the FastAPI service all import this package.
"""

import os

__version__ = "1.0.0"

# The server proxies artifacts (--artifacts-destination), so clients hold no S3 keys and may not
# reach S3 at all (minio:9000 from the host, 127.0.0.1:9000 from a container). MLflow 3.x would
# still send downloads straight to S3 with presigned URLs when the server advertises it: keep every
# transfer on the proxy unless the user asks otherwise.
for _var in ("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"):
    os.environ.setdefault(_var, "false")
