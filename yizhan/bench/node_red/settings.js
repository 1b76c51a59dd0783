/**
 * Node-RED settings for `python -m yizhan.bench.ingest_peer`: the flow in flows.json, no
 * editor and no admin API, listening on loopback only, on the port the bench chose.
 *
 * The bench copies this file and flows.json into its Node-RED directory (the userDir, where
 * `npm ci` put node-red and the PostgreSQL node) and sets YZ_NODE_RED_PORT, YZ_MQTT_PORT and
 * the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER (PGPASSWORD when the URL has one).
 */
module.exports = {
	flowFile: 'flows.json',
	credentialSecret: false, // the flow holds no credentials: the database login is in PG*
	uiHost: '127.0.0.1',
	uiPort: Number(process.env.YZ_NODE_RED_PORT || 1880),
	httpAdminRoot: false, // no editor, no admin API: nothing to log in to
	httpNodeRoot: '/', // the bench's counter answers at /yz-bench/stored
	externalModules: {
		autoInstall: false,
		palette: { allowInstall: false },
		modules: { allowInstall: false },
	},
	functionExternalModules: false,
	telemetry: { enabled: false, updateNotification: false }, // no calls out of the machine
	diagnostics: { enabled: false },
	runtimeState: { enabled: false },
	logging: { console: { level: 'info', metrics: false, audit: false } },
};
