/* store_map.c: a hash map from chunk ids to locations (open addressing, linear probing).
 *
 * DESIGN
 *
 * Ids are HMAC outputs, so their first 8 bytes are already a uniform hash. Slots are kept at
 * most 3/4 full; the table doubles when an insert would pass that. Removal shifts the following
 * run back (no tombstones), so lookups stay short after many gc removals. An entry takes 52
 * bytes, 70 to 104 bytes per id with the free slots: about 300 MB for the 4 million chunks of
 * 1 TiB of unique data, which is the memory price of puts and has() that never touch SQLite.
 */
#include <errno.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/alloc.h"

#define MAP_MIN_CAP 64u

static size_t map_hash(const uint8_t id[32])
{
        uint64_t h;
        memcpy(&h, id, sizeof h);
        return (size_t)h;
}

/* The slot holding @p id, or the free slot where it would go. cap must be > n. */
static size_t map_slot(const rp_store_map_entry *slots, size_t cap, const uint8_t id[32])
{
        size_t mask = cap - 1, i = map_hash(id) & mask;
        while (slots[i].loc.used && memcmp(slots[i].id, id, RP_STORE_ID_LEN) != 0)
                i = (i + 1) & mask;
        return i;
}

static int map_resize(rp_store_map *m, size_t cap)
{
        rp_store_map_entry *slots = rp_calloc(cap, sizeof *slots);
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->slots[i].loc.used)
                        continue;
                size_t j = map_slot(slots, cap, m->slots[i].id);
                slots[j] = m->slots[i];
        }
        rp_free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

int rp_store__map_reserve(rp_store_map *m, size_t n)
{
        size_t cap = m->cap ? m->cap : MAP_MIN_CAP;
        while (n > cap / 4 * 3) {
                if (cap > SIZE_MAX / 2 / sizeof(rp_store_map_entry))
                        return -ENOMEM;
                cap *= 2;
        }
        if (cap == m->cap)
                return 0;
        return map_resize(m, cap);
}

rp_store_map_entry *rp_store__map_find(const rp_store_map *m, const uint8_t id[32])
{
        if (m->n == 0)
                return NULL;
        size_t i = map_slot(m->slots, m->cap, id);
        return m->slots[i].loc.used ? &m->slots[i] : NULL;
}

int rp_store__map_insert(rp_store_map *m, const uint8_t id[32], const rp_store_loc *loc,
                         rp_store_map_entry **ret_entry)
{
        rp_store_map_entry *e = rp_store__map_find(m, id);
        if (e) {
                if (ret_entry)
                        *ret_entry = e;
                return 0;
        }
        int r = rp_store__map_reserve(m, m->n + 1);
        if (r < 0)
                return r;
        size_t i = map_slot(m->slots, m->cap, id);
        e = &m->slots[i];
        memcpy(e->id, id, RP_STORE_ID_LEN);
        e->loc = *loc;
        e->loc.used = 1;
        m->n++;
        if (ret_entry)
                *ret_entry = e;
        return 1;
}

int rp_store__map_remove(rp_store_map *m, const uint8_t id[32])
{
        if (m->n == 0)
                return 0;
        size_t mask = m->cap - 1, i = map_slot(m->slots, m->cap, id);
        if (!m->slots[i].loc.used)
                return 0;
        /* Backward-shift deletion: move later members of the run into the hole when their home
         * slot does not lie (cyclically) between the hole and their position. */
        size_t j = i;
        for (;;) {
                j = (j + 1) & mask;
                if (!m->slots[j].loc.used)
                        break;
                size_t home = map_hash(m->slots[j].id) & mask;
                bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                if (stays)
                        continue;
                m->slots[i] = m->slots[j];
                i = j;
        }
        memset(&m->slots[i], 0, sizeof m->slots[i]);
        m->n--;
        return 1;
}

void rp_store__map_clear(rp_store_map *m)
{
        if (m->slots)
                memset(m->slots, 0, m->cap * sizeof *m->slots);
        m->n = 0;
}

void rp_store__map_done(rp_store_map *m)
{
        m->slots = rp_free(m->slots);
        m->cap = 0;
        m->n = 0;
}
