/* config.h: rpd.conf, an INI file: [rpd] keys, and one [region NAME] section per region. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "hooks.h"

#define RP_CONFIG_MAX_REGIONS 16
#define RP_CONFIG_MAX_SANS 8
#define RP_CONFIG_MAX_HOOKS 64

/** One hosted region. */
typedef struct rp_config_region {
        char *name;    /**< lower-case id, "eastus" */
        char *display; /**< "East US" */
} rp_config_region;

#define RP_CONFIG_MAX_PEERS 16

/** A region hosted by another rpd ([peer NAME]). */
typedef struct rp_config_peer {
        char *name;     /**< the region it hosts */
        char *url;      /**< https://host:port */
        char *ca_file;  /**< CA of its certificate, or NULL (this host's tls/ca.pem) */
        char *key_file; /**< the pair key (at least 32 bytes) */
} rp_config_peer;

/** Limits of the copies from one source region into this host's regions. */
typedef struct rp_config_pair {
        char *source;           /**< source region (a hosted region or a peer) */
        uint64_t bytes_per_sec; /**< 0: no limit */
        unsigned max_copies;    /**< 0: no cap */
} rp_config_pair;

/** The daemon's settings (config file, then flags). All strings owned. */
typedef struct rp_config {
        char *listen_addr;                  /**< IP literal */
        uint16_t port;                      /**< 0 picks a free port */
        unsigned threads;                   /**< HTTP worker threads */
        unsigned conn_timeout;              /**< idle connection timeout, seconds */
        char *log_level;                    /**< debug, info, ... */
        char *tls_sans[RP_CONFIG_MAX_SANS]; /**< extra certificate names */
        size_t n_sans;
        rp_config_region regions[RP_CONFIG_MAX_REGIONS];
        size_t n_regions;
        rp_hook hooks[RP_CONFIG_MAX_HOOKS]; /**< [freeze-hook NAME] sections */
        size_t n_hooks;
        rp_config_peer peers[RP_CONFIG_MAX_PEERS]; /**< [peer NAME] sections */
        size_t n_peers;
        /** copy_bandwidth / copy_max of [region NAME] and [peer NAME] sections */
        rp_config_pair pairs[RP_CONFIG_MAX_REGIONS + RP_CONFIG_MAX_PEERS];
        size_t n_pairs;
        uint64_t copy_time_limit; /**< seconds a copy may take (default 14 days) */
} rp_config;

/** The embedded default: 127.0.0.1:8443, regions eastus and westus. */
int rp_config_default(rp_config *c);
/** Text of the default config file. Static. */
const char *rp_config_default_text(void);
/** Read @p path over @p c. @param[out] ret_error "line N: ..." to rp_free(). @return 0 or <0. */
int rp_config_load(rp_config *c, const char *path, char **ret_error);
/** Parse "ADDR:PORT" or "[v6]:PORT" into @p c. @return 0 or -EINVAL. */
int rp_config_set_listen(rp_config *c, const char *s);
/** Free the contents. */
void rp_config_done(rp_config *c);
