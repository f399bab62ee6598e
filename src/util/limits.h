/* limits.h: every hard cap of rpd in one place. */
#pragma once

/** Largest JSON request body accepted (ARM's limit). */
#define RP_MAX_JSON_BODY (8u * 1024u * 1024u)
/** Largest JSON text rp_json_dumps() produces (stored documents, response bodies). */
#define RP_MAX_JSON_DUMP (64u * 1024u * 1024u)
/** Largest request header block MHD will buffer per connection. */
#define RP_MAX_HEADER_BYTES (64u * 1024u)
/** Largest single page write on the disk data plane (page blob rule). */
#define RP_MAX_PAGE_WRITE (4u * 1024u * 1024u)
/** Sector size: page writes must be aligned to it. */
#define RP_SECTOR_SIZE 512u
/** Chunk size of the dirty map and the chunk store. */
#define RP_CHUNK_SIZE (256u * 1024u)
/** Largest managed disk (32 TiB + footer, as Azure's upload limit). */
#define RP_MAX_DISK_BYTES 35183298347520ull
/** Smallest upload size accepted for createOption Upload (20 MiB + 512). */
#define RP_MIN_UPLOAD_BYTES 20972032ull
/** Items per page of a list response. */
#define RP_LIST_PAGE_SIZE 100
/** Largest log line, a message longer than that is cut. */
#define RP_MAX_LOG_LINE 4096u
/** Largest file read whole by rp_read_file callers (config, keys, certs). */
#define RP_MAX_SMALL_FILE (1u * 1024u * 1024u)
/** Number of tags per resource (ARM). */
#define RP_MAX_TAGS 50
/** Longest tag name and value (ARM). */
#define RP_MAX_TAG_NAME 512
#define RP_MAX_TAG_VALUE 256
