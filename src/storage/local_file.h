/*-------------------------------------------------------------------------
 *
 * local_file.h
 *	  Buffered, append-only local files (local_file.c): the archive file of
 *	  the file:// backend and the spool files of a capture.
 *
 * src/storage/local_file.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_LOCAL_FILE_H
#define PGB_LOCAL_FILE_H

typedef struct PgbLocalFile PgbLocalFile;

/*
 * Open path for writing with open(2) flags (O_WRONLY | O_CREAT | PG_BINARY
 * are added); NULL with errno set if it cannot be opened.  what names the
 * file in messages ("spool file").  The descriptor is closed when the
 * current memory context is reset.
 */
extern PgbLocalFile *pgb_local_file_open(const char *path, int flags, const char *what);
extern void pgb_local_file_write(PgbLocalFile *f, const char *data, size_t len);
extern uint64 pgb_local_file_pos(PgbLocalFile *f);
extern void pgb_local_file_flush(PgbLocalFile *f);
extern void pgb_local_file_pwrite(PgbLocalFile *f, uint64 off, const char *data, size_t len);
extern void pgb_local_file_pread(PgbLocalFile *f, uint64 off, char *buf, size_t len);
/* write out the buffer, fsync if sync, close */
extern void pgb_local_file_close(PgbLocalFile *f, bool sync);
/* close the descriptor without writing anything more; never raises an error */
extern void pgb_local_file_release(PgbLocalFile *f);

/* write(2) all of buf, retrying short writes and EINTR */
extern void pgb_write_all(int fd, const char *buf, size_t len, const char *path);

/* create the directories above path */
extern void pgb_local_make_parent_dirs(const char *path);

/*
 * Remove the temporary files of the archive at path: "<path>.tmp" and
 * every "<path>.*.tmp" in its directory.
 */
extern void pgb_local_remove_partials(const char *path);

#endif							/* PGB_LOCAL_FILE_H */
