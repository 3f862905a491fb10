#!/usr/bin/env node
// test/servers/s3rver.js: start @20minutes/s3rver (an S3 server backed by a
// directory) through its library API, on loopback, for the end-to-end tests.
//
//   node s3rver.js --dir DIR [--address 127.0.0.1] [--port 0]
//                  [--bucket NAME]... [--access-key ID --secret KEY]
//                  [--cert FILE --key FILE] [--ready-file FILE]
//
// --port 0 (the default) lets the kernel choose a free port.  Once listening
// it prints one JSON line {"port": N, "address": "..."} on stdout and, with
// --ready-file, writes the port number to FILE (written to FILE.tmp, then
// renamed, so a reader never sees a partial file).  --access-key/--secret
// replace s3rver's built-in S3RVER/S3RVER credentials: SigV4 header and
// query (presigned) signatures are verified against that secret, the
// built-in key pair is revoked.  Requests are logged on stdout (one line
// each: method, URL, status, time).  SIGTERM/SIGINT close the server.
//
// s3rver 5 declares node >= 24 for its CLI; the library runs on Node 20.
'use strict'

const fs = require('node:fs')

function usage(msg) {
	process.stderr.write(`s3rver.js: ${msg}\n`)
	process.exit(2)
}

const opts = { address: '127.0.0.1', port: 0, buckets: [] }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
	const a = argv[i]
	const val = () => {
		if (i + 1 >= argv.length) usage(`${a} needs a value`)
		return argv[++i]
	}
	switch (a) {
		case '--dir':
			opts.dir = val()
			break
		case '--address':
			opts.address = val()
			break
		case '--port':
			opts.port = Number(val())
			break
		case '--bucket':
			opts.buckets.push(val())
			break
		case '--access-key':
			opts.accessKey = val()
			break
		case '--secret':
			opts.secret = val()
			break
		case '--cert':
			opts.cert = val()
			break
		case '--key':
			opts.key = val()
			break
		case '--ready-file':
			opts.readyFile = val()
			break
		case '--silent':
			opts.silent = true
			break
		default:
			usage(`unknown argument ${a}`)
	}
}
if (!opts.dir) usage('--dir is required')
if (Boolean(opts.accessKey) !== Boolean(opts.secret)) usage('--access-key and --secret go together')

let S3rver
let AWSAccount
try {
	S3rver = require('@20minutes/s3rver')
	AWSAccount = require('@20minutes/s3rver/lib/models/account')
} catch (err) {
	usage(`cannot load @20minutes/s3rver (run npm ci in ${__dirname}): ${err.message}`)
}

if (opts.accessKey) {
	AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER')
	AWSAccount.DUMMY_ACCOUNT.createKeyPair(opts.accessKey, opts.secret)
}

fs.mkdirSync(opts.dir, { recursive: true })
const serverOpts = {
	address: opts.address,
	port: opts.port,
	directory: opts.dir,
	silent: Boolean(opts.silent),
	resetOnClose: false,
	vhostBuckets: false,
	configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
}
if (opts.cert) {
	serverOpts.cert = fs.readFileSync(opts.cert)
	serverOpts.key = fs.readFileSync(opts.key)
}

const server = new S3rver(serverOpts)
server
	.run()
	.then((addr) => {
		process.stdout.write(`${JSON.stringify({ port: addr.port, address: addr.address })}\n`)
		if (opts.readyFile) {
			const tmp = `${opts.readyFile}.tmp`
			fs.writeFileSync(tmp, `${addr.port}\n`)
			fs.renameSync(tmp, opts.readyFile)
		}
	})
	.catch((err) => {
		process.stderr.write(`s3rver.js: ${err.stack || err}\n`)
		process.exit(1)
	})

function stop() {
	server.close().finally(() => process.exit(0))
	setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
