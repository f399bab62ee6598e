/* disk_internal.h: what disk_image.c and disk_capture.c share; not for use outside src/disk/. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "disk_capture.h"
#include "disk_image.h"

/**
 * The shared object behind rp_disk_image. See the DESIGN comment of disk_image.c for the locks.
 */
struct rp_disk_image {
        /* Under registry_lock. */
        unsigned n_ref;             /**< references; the last unref frees */
        bool in_registry;           /**< linked in the registry list */
        struct rp_disk_image *prev; /**< registry list */
        struct rp_disk_image *next; /**< registry list */

        dev_t dev;        /**< identity of the image file */
        ino_t ino;        /**< identity of the image file */
        mode_t mode;      /**< permission bits for the files made next to the image */
        char *path;       /**< path the image was first opened with */
        char *dirty_path; /**< "<path>.dirty" */
        int fd;           /**< the image, O_RDWR */
        int dirty_fd;     /**< the map, O_RDWR */

        pthread_rwlock_t hold; /**< write/clear shared; hold, resize, snapshot exclusive */
        pthread_t holder;      /**< atomic; meaningful while held is true */
        bool held;             /**< atomic; set by the exclusive holder */

        pthread_mutex_t lock; /**< bitmap changes, map file, size changes, pending record */
        uint64_t size;        /**< atomic loads; changes under lock + exclusive hold */
        uint64_t nchunks;     /**< changes under lock + exclusive hold */
        uint8_t *bitmap;      /**< bytes read atomically without lock; changed under lock */
        size_t bitmap_bytes;  /**< changes under lock + exclusive hold */
        uint64_t ndirty;      /**< under lock */
        bool map_stale;       /**< atomic; the map file may lack bits memory has */

        /** The dirty bits of the active capture's cut, @c cut_bytes long, or NULL: cleared from
         *  memory at the cut, they stay in the map FILE until the capture commits (every map
         *  write ORs them in), so a crash never loses them. Under lock. */
        const uint8_t *cut_bits;
        size_t cut_bytes; /**< bytes of cut_bits */

        /** The active capture, or NULL. Set and cleared under the exclusive hold, read by
         *  writers under the shared hold. */
        rp_disk_capture *cap;
};

/** Number of bits set in @p n bytes of @p bitmap. */
uint64_t rp_disk__popcount(const uint8_t *bitmap, size_t n);

/** Whether the calling thread holds writes on @p img. */
bool rp_disk__held_by_me(rp_disk_image *img);

/**
 * Hold writes unless the calling thread already does.
 * @param[out] ret_own whether this call took the hold (then release it).
 * @return 0 or -errno.
 */
int rp_disk__hold_if_needed(rp_disk_image *img, bool *ret_own);

/**
 * Write the @p n bitmap bytes @p bytes, starting at bitmap byte @p b0, to the map file, with the
 * bits of an active cut ORed in (into @p bytes, which is scratch), and fdatasync. Caller holds
 * img->lock. On failure map_stale is set. @return 0 or -errno.
 */
int rp_disk__map_write(rp_disk_image *img, uint8_t *bytes, size_t b0, size_t n);

/**
 * Copy-before-write hook, in disk_capture.c: preserve the point-in-time content of the chunks
 * of the capture set under [off, off + len) that the capture still needs. Caller holds writes
 * shared, and calls it before changing those bytes. Never fails the write: a failure to
 * preserve breaks the capture instead (its readers get the error).
 */
void rp_disk__capture_preserve(rp_disk_capture *cap, uint64_t off, uint64_t len);
