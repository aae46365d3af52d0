"""Where invoice attachments and uploaded import files live: on disk, never at a public URL.

The vendor's PDF carries bank details and prices, so it is served only by a view that checks
the reader's role. This storage has no URL at all, so no template can link around that view.
"""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property


@deconstructible
class PrivateStorage(FileSystemStorage):
    """MEDIA_ROOT/private on disk; `url()` refuses, files go out through a role-checking view."""

    @cached_property
    def base_location(self) -> str:
        # Read lazily (and again when tests change MEDIA_ROOT; the parent clears the cache).
        # FileSystemStorage keeps the location it was given in _location; the stubs omit it.
        location = self._location  # type: ignore[attr-defined]
        return self._value_or_setting(location, str(Path(settings.MEDIA_ROOT) / "private"))

    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no public URL; link to the view that serves them.")


private_storage = PrivateStorage()
