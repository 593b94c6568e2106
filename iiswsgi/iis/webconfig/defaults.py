"""IIS's own tables, as its schema and its applicationHost.config ship
them: the attributes' defaults and ranges, requestFiltering's hidden
segments and denied extensions, and staticContent's MIME map."""

__all__ = [
    "AUTOMATIC_INSTANCES", "DEFAULT_DENIED_EXTENSIONS",
    "DEFAULT_HIDDEN_SEGMENTS", "DEFAULT_MAX_ALLOWED_CONTENT_LENGTH",
    "DEFAULT_MAX_QUERY_STRING", "DEFAULT_MAX_URL", "DEFAULT_MIME_MAP", "DEFAULT_RESPONSE_BUFFER_LIMIT", "FASTCGI_INTEGERS",
    "RESOURCE_TYPES", "STDERR_MODES", "UINT_MAX"]

STDERR_MODES = ("ReturnStdErrIn500", "ReturnGeneric500", "IgnoreAndReturn200",
                "TerminateProcess")

# Integer attributes of <fastCgi><application>: name -> (field, default,
# lowest, highest), as IIS's schema gives them.
FASTCGI_INTEGERS = {
    "maxInstances": ("max_instances", 4, 0, 10000),
    "instanceMaxRequests": ("instance_max_requests", 200, 1, 10000000),
    "activityTimeout": ("activity_timeout", 70, 10, 3600),
    "requestTimeout": ("request_timeout", 90, 10, 604800),
    "idleTimeout": ("idle_timeout", 300, 10, 604800),
    "queueLength": ("queue_length", 1000, 1, 10000000),
    "signalBeforeTerminateSeconds": ("signal_before_terminate_seconds", 0, 0,
                                     60),
}
# maxInstances="0" lets IIS decide; the emulator takes that as 4.
AUTOMATIC_INSTANCES = 4
DEFAULT_RESPONSE_BUFFER_LIMIT = 4194304
DEFAULT_MAX_ALLOWED_CONTENT_LENGTH = 30000000
# requestLimits' other defaults (IIS's configuration reference).
DEFAULT_MAX_URL = 4096
DEFAULT_MAX_QUERY_STRING = 2048
UINT_MAX = 4294967295
RESOURCE_TYPES = ("File", "Directory", "Either", "Unspecified")

# requestFiltering as IIS's applicationHost.config ships it.
DEFAULT_HIDDEN_SEGMENTS = (
    "web.config", "bin", "App_code", "App_GlobalResources",
    "App_LocalResources", "App_WebReferences", "App_Data", "App_Browsers")
DEFAULT_DENIED_EXTENSIONS = (
    ".asa", ".asax", ".ascx", ".master", ".skin", ".browser", ".sitemap",
    ".config", ".cs", ".csproj", ".vb", ".vbproj", ".webinfo", ".licx",
    ".resx", ".resources", ".mdb", ".vjsproj", ".java", ".jsl", ".ldb",
    ".dsdgm", ".ssdgm", ".lsad", ".ssmap", ".cd", ".dsprototype",
    ".lsaprototype", ".sdm", ".sdmDocument", ".mdf", ".ldf", ".ad", ".dd",
    ".ldd", ".sd", ".adprototype", ".lddprototype", ".exclude", ".refresh",
    ".compiled", ".msgx", ".vsdisco", ".rules")

# IIS 10's staticContent mimeMap, as its applicationHost.config ships it
# (an extension missing here is answered 404.3 unless web.config adds it).
DEFAULT_MIME_MAP = {
    ".323": "text/h323", ".3g2": "video/3gpp2", ".3gp": "video/3gpp",
    ".3gp2": "video/3gpp2", ".3gpp": "video/3gpp",
    ".7z": "application/x-7z-compressed", ".aac": "audio/aac",
    ".aaf": "application/octet-stream", ".aca": "application/octet-stream",
    ".accdb": "application/msaccess", ".ai": "application/postscript",
    ".aif": "audio/x-aiff", ".aifc": "audio/aiff", ".aiff": "audio/aiff",
    ".application": "application/x-ms-application",
    ".asf": "video/x-ms-asf", ".asm": "text/plain", ".asx": "video/x-ms-asf",
    ".au": "audio/basic", ".avi": "video/x-msvideo",
    ".bin": "application/octet-stream", ".bmp": "image/bmp",
    ".cab": "application/vnd.ms-cab-compressed",
    ".cer": "application/x-x509-ca-cert",
    ".class": "application/x-java-applet", ".cpp": "text/plain",
    ".crl": "application/pkix-crl", ".css": "text/css", ".csv": "text/csv",
    ".dll": "application/x-msdownload", ".doc": "application/msword",
    ".docm": "application/vnd.ms-word.document.macroEnabled.12",
    ".docx": "application/vnd.openxmlformats-officedocument"
             ".wordprocessingml.document",
    ".dot": "application/msword", ".dtd": "text/xml",
    ".eml": "message/rfc822", ".eot": "application/vnd.ms-fontobject",
    ".eps": "application/postscript", ".etx": "text/x-setext",
    ".exe": "application/octet-stream", ".flv": "video/x-flv",
    ".gif": "image/gif", ".gz": "application/x-gzip", ".h": "text/plain",
    ".hta": "application/hta", ".htc": "text/x-component",
    ".htm": "text/html", ".html": "text/html", ".hxt": "text/html",
    ".ico": "image/x-icon", ".ics": "application/octet-stream",
    ".ief": "image/ief", ".jar": "application/java-archive",
    ".java": "application/octet-stream", ".jpe": "image/jpeg",
    ".jpeg": "image/jpeg", ".jpg": "image/jpeg",
    ".js": "application/javascript", ".json": "application/json",
    ".jsx": "text/jscript", ".latex": "application/x-latex",
    ".m3u": "audio/x-mpegurl", ".m4a": "audio/mp4", ".m4v": "video/mp4",
    ".man": "application/x-troff-man", ".mdb": "application/x-msaccess",
    ".mht": "message/rfc822", ".mhtml": "message/rfc822",
    ".mid": "audio/mid", ".midi": "audio/mid", ".mov": "video/quicktime",
    ".mp2": "video/mpeg", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
    ".mp4v": "video/mp4", ".mpa": "video/mpeg", ".mpe": "video/mpeg",
    ".mpeg": "video/mpeg", ".mpg": "video/mpeg",
    ".msi": "application/octet-stream", ".oga": "audio/ogg",
    ".ogg": "audio/ogg", ".ogv": "video/ogg", ".one": "application/onenote",
    ".otf": "font/otf", ".pdf": "application/pdf",
    ".pfx": "application/x-pkcs12", ".png": "image/png",
    ".pot": "application/vnd.ms-powerpoint",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument"
             ".presentationml.presentation",
    ".ps": "application/postscript", ".qt": "video/quicktime",
    ".ra": "audio/x-pn-realaudio", ".ram": "audio/x-pn-realaudio",
    ".rar": "application/octet-stream", ".rtf": "application/rtf",
    ".rtx": "text/richtext", ".sgml": "text/sgml",
    ".svg": "image/svg+xml", ".svgz": "image/svg+xml",
    ".swf": "application/x-shockwave-flash", ".tar": "application/x-tar",
    ".tgz": "application/x-compressed", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".tsv": "text/tab-separated-values",
    ".ttf": "application/octet-stream", ".txt": "text/plain",
    ".vcf": "text/x-vcard", ".vsd": "application/vnd.visio",
    ".wav": "audio/wav", ".wasm": "application/wasm",
    ".webm": "video/webm", ".webp": "image/webp", ".wma": "audio/x-ms-wma",
    ".wmv": "video/x-ms-wmv", ".woff": "font/x-woff",
    ".woff2": "application/font-woff2", ".xaml": "application/xaml+xml",
    ".xap": "application/x-silverlight-app",
    ".xhtml": "application/xhtml+xml", ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument"
             ".spreadsheetml.sheet",
    ".xml": "text/xml", ".xsd": "text/xml", ".xsl": "text/xml",
    ".xslt": "text/xml", ".z": "application/x-compress",
    ".zip": "application/x-zip-compressed",
}
