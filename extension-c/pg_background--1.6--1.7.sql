/* pg_background--1.6--1.7.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_background UPDATE" to load this file. \quit

-- 1.6 and 1.7 declare the same objects with the same signatures; 1.7 only
-- rewrote the bodies of the grant/revoke helpers, which the step to 1.9
-- replaces anyway.  Nothing to do here: this file exists so that a 1.6
-- installation has an update path.
