//! Optional offline geo-IP for `auth_sessions`: a local MaxMind / GeoLite2 City database
//! named by `geoip.database`. Never a network call; without a database every geo field is
//! null (as are private and loopback addresses, which no database knows).

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

/// The geo fields of a session row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    /// `"latitude,longitude"`, as ipinfo writes it.
    pub loc: Option<String>,
    pub postal: Option<String>,
    pub timezone: Option<String>,
}

pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl GeoIp {
    /// Opens the database file (read into memory once).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| anyhow::anyhow!("geoip.database {}: {e}", path.display()))?;
        Ok(Self { reader })
    }

    /// What the database says about `ip`; all `None` when unknown or unparsable.
    pub fn lookup(&self, ip: &str) -> Geo {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return Geo::default();
        };
        let Ok(found) = self.reader.lookup(ip) else {
            return Geo::default();
        };
        let Ok(Some(city)) = found.decode::<geoip2::City>() else {
            return Geo::default();
        };
        let text = |s: Option<&str>| s.map(str::to_string);
        let loc = match (city.location.latitude, city.location.longitude) {
            (Some(lat), Some(lon)) => Some(format!("{lat:.4},{lon:.4}")),
            _ => None,
        };
        let region = city
            .subdivisions
            .first()
            .and_then(|s| s.names.english.or(s.iso_code));
        Geo {
            city: text(city.city.names.english),
            region: text(region),
            country: text(city.country.iso_code),
            loc,
            postal: text(city.postal.code),
            timezone: text(city.location.time_zone),
        }
    }
}

/// Opens `path` when configured.
pub fn load(path: Option<&Path>) -> anyhow::Result<Option<GeoIp>> {
    path.map(GeoIp::open).transpose()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_database_is_an_error_naming_the_key() {
        let Err(e) = super::GeoIp::open(std::path::Path::new("/nonexistent/GeoLite2-City.mmdb"))
        else {
            panic!("opened a missing file");
        };
        assert!(e.to_string().starts_with("geoip.database"), "{e}");
        assert!(super::load(None).unwrap_or(None).is_none());
    }
}
