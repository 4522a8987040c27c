'use strict';
// node:events: the npm package events (vendor/events).
module.exports = require('./vendor/events/events.js');
