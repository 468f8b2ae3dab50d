"""S3 and S3-compatible servers (MinIO, moto...) through s3fs.

A PUT, and the completion of a multipart upload, is atomic on S3: an object is written
straight to its final key (never to a temporary key then copied, which would write it
twice); a writer killed mid-upload leaves an incomplete multipart upload, which no listing
or read sees (a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` reclaims its parts).
An object is made young without re-uploading it: a server-side copy onto itself.
Endpoint and credentials come from the standard AWS environment and config files
(``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``~/.aws/config``...), never from nbtrack's config.
"""

from __future__ import annotations

from .base import Writer
from .fsspec import DirectWriter, FsspecBackend

COPY_LIMIT = 5 * 2**30  # a single CopyObject copies at most 5 GB


class S3Backend(FsspecBackend):
    def makedirs(self, folder: str) -> None:
        pass  # keys need no folders (s3fs would only check the bucket, one request per call)

    def writer(self, path: str | None, readonly: bool = True, size_hint: int | None = None) -> Writer:
        if path is None:  # the name (the hash) is known at the end: spool, then one upload
            return super().writer(path, readonly, size_hint)
        return DirectWriter(self, path)  # one PUT, or a multipart upload completed at commit

    def check(self) -> None:
        """One request to the bucket: a missing bucket, refused credentials or an unreachable
        endpoint is one clear line now rather than at the first write."""
        import os

        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

        from ...errors import InvalidInput, StoreUnavailable

        bucket = self.root.split("/", 1)[0]
        where = os.environ.get("AWS_ENDPOINT_URL") or "AWS"
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise InvalidInput(f"the bucket {bucket!r} does not exist at {where}: create it first "
                               "(the endpoint comes from AWS_ENDPOINT_URL or ~/.aws/config)") from None
        except PermissionError:
            raise InvalidInput(f"the AWS credentials of this environment may not use the bucket {bucket!r} at "
                               f"{where} (AWS_ACCESS_KEY_ID / AWS_PROFILE)") from None
        except (OSError, BotoCoreError) as e:
            raise StoreUnavailable(f"cannot reach S3 at {where} for the bucket {bucket!r}: {e}") from None

    def touch(self, path: str) -> None:
        from botocore.exceptions import ClientError
        from s3fs.errors import translate_boto_error  # type: ignore[import-untyped]

        bucket, key, _ = self.fs.split_path(path)
        if self.stat(path).size >= COPY_LIMIT:  # FileNotFoundError when gone
            # one CopyObject cannot copy it; re-uploading 5 GB to refresh a date is not worth it: the
            # adoption mark the store writes before every touch keeps gc off it (ObjectStore.collect)
            return
        try:
            self.fs.call_s3("copy_object", Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                            MetadataDirective="REPLACE")
        except ClientError as e:
            raise translate_boto_error(e) from e
