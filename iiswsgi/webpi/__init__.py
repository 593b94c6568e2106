"""Web Platform Installer (WebPI) feeds.

A feed is an Atom document (``<feed xmlns="http://www.w3.org/2005/Atom">``)
whose ``<entry>`` elements are products: Web Deploy packages
(``type="application"``) and the things they depend on.  WebPI compares the
``<sha1>`` of each download with the file it fetched and reads
``<fileSize>`` in KiB.  Microsoft retired WebPI in 2022; the format is
still read by WebPI installations kept running with custom or offline feeds
(``WebpiCmd /Feeds:`` and ``/Offline``) and by tools that read it.

One job per module, the names re-exported here:

* :mod:`.errors`: :class:`FeedError`;
* :mod:`.values`: dates, sizes and digests, URLs, keyword ids;
* :mod:`.model`: the Feed, Entry and Installer, and the entries of
  distributions;
* :mod:`.reader`: reading feed files;
* :mod:`.validator`: the rules WebPI reads a feed by;
* :mod:`.writer`: the feed's XML, template merging, writing;
* :mod:`.cache`: WebPI's download caches on this machine.

The install stamps clean_webpi removes are found by
:func:`iiswsgi.msdeploy.stamp.stale_stamps` (also here as
:func:`stale_stamps`).
"""

from ..msdeploy.stamp import stale_stamps
from .cache import clean_cache, default_cache_root, remove_files
from .errors import FeedError
from .model import (ATOM, WEBPI_FILE_VERSION, Entry, Feed, Installer,
                    application_entry, atom_id, installed_distribution,
                    package_entry)
from .reader import feed_id_of, read_feed
from .validator import check_feed, validate_feed
from .values import (URL_FIELDS, build_time, expand_url, file_digest,
                     file_url, format_date, keyword_id, normalize_date,
                     requirement_name, size_kb)
from .writer import feed_bytes, feed_element, merge_template, write_feed

__all__ = [
    "ATOM", "Entry", "Feed", "FeedError", "Installer", "URL_FIELDS",
    "WEBPI_FILE_VERSION", "application_entry", "atom_id", "build_time",
    "check_feed",
    "clean_cache", "default_cache_root", "expand_url", "feed_bytes",
    "feed_element", "feed_id_of", "file_digest", "file_url", "format_date",
    "installed_distribution", "keyword_id", "merge_template",
    "normalize_date", "package_entry", "read_feed", "remove_files",
    "requirement_name", "size_kb", "stale_stamps", "validate_feed",
    "write_feed"]
