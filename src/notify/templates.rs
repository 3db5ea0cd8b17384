//! Message texts, per locale (`en`, the default, and `fr`). A user's `locale` such as
//! `fr-CA` or `fr_FR` picks `fr`; anything else gets English.

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 6-digit login code.
    Otp,
    /// An address verification token.
    Verify,
    /// A password recovery token.
    Recover,
    /// An invitation token.
    Invite,
}

fn is_french(locale: Option<&str>) -> bool {
    locale.is_some_and(|l| {
        let l = l.trim().to_ascii_lowercase();
        l == "fr" || l.starts_with("fr-") || l.starts_with("fr_")
    })
}

/// `(subject, body)` of a message carrying `secret`; `address` is the email or phone it
/// is for (the id to send back with the token).
pub fn render(kind: Kind, locale: Option<&str>, secret: &str, address: &str) -> (String, String) {
    if is_french(locale) {
        return match kind {
            Kind::Otp => (
                "Votre code de connexion".into(),
                format!(
                    "Votre code de connexion est :\n\n{secret}\n\nIl expire dans 10 minutes. Si vous n'avez rien demandé, ignorez ce message.\n"
                ),
            ),
            Kind::Verify => (
                "Vérifiez votre adresse".into(),
                format!(
                    "Pour vérifier {address}, utilisez ce jeton :\n\n{secret}\n\nIl expire dans 1 heure.\n"
                ),
            ),
            Kind::Recover => (
                "Réinitialisation du mot de passe".into(),
                format!(
                    "Pour choisir un nouveau mot de passe pour {address}, utilisez ce jeton :\n\n{secret}\n\nIl expire dans 1 heure. Si vous n'avez rien demandé, ignorez ce message.\n"
                ),
            ),
            Kind::Invite => (
                "Vous êtes invité".into(),
                format!(
                    "Vous êtes invité à rejoindre Roost avec {address}.\nJeton d'invitation :\n\n{secret}\n\nIl expire dans 7 jours.\n"
                ),
            ),
        };
    }
    match kind {
        Kind::Otp => (
            "Your sign-in code".into(),
            format!(
                "Your sign-in code is:\n\n{secret}\n\nIt expires in 10 minutes.\nIf you did not ask for it, ignore this message.\n"
            ),
        ),
        Kind::Verify => (
            "Verify your address".into(),
            format!("To verify {address},\nuse this token:\n\n{secret}\n\nIt expires in 1 hour.\n"),
        ),
        Kind::Recover => (
            "Reset your password".into(),
            format!(
                "To choose a new password for {address},\nuse this token:\n\n{secret}\n\nIt expires in 1 hour.\nIf you did not ask for it, ignore this message.\n"
            ),
        ),
        Kind::Invite => (
            "You are invited".into(),
            format!(
                "You are invited to join Roost as {address}.\nInvitation token:\n\n{secret}\n\nIt expires in 7 days.\n"
            ),
        ),
    }
}

/// `(subject, body)` of the notice that a sign-in method (`provider`, its display name)
/// was linked to the account `address`. It carries no secret: it tells the holder, so a
/// link they did not make does not go unnoticed.
pub fn linked(locale: Option<&str>, provider: &str, address: &str) -> (String, String) {
    if is_french(locale) {
        return (
            "Nouvelle méthode de connexion".into(),
            format!(
                "Une méthode de connexion ({provider}) a été liée à votre compte {address}.\nElle permet désormais de se connecter à ce compte.\n\nSi ce n'est pas vous, retirez-la de votre compte, changez votre mot de passe et fermez vos autres sessions.\n"
            ),
        );
    }
    (
        "A sign-in method was linked to your account".into(),
        format!(
            "A sign-in method ({provider}) was linked to your account {address}.\nIt can now be used to sign in to this account.\n\nIf this was not you, remove it from your account, change your password and sign out your other sessions.\n"
        ),
    )
}

/// `(subject, body)` of the notice sent to an account's old address when its `email` or
/// `phone` changed to `new_masked` (masked: the old address's holder may not be the
/// account's holder any more). No secret in it.
pub fn address_changed(locale: Option<&str>, field: &str, new_masked: &str) -> (String, String) {
    let phone = field == "phone";
    if is_french(locale) {
        let what = if phone {
            "numéro de téléphone"
        } else {
            "adresse e-mail"
        };
        return (
            format!("Votre {what} a été changé"),
            format!(
                "Le {what} de votre compte a été changé pour {new_masked}.\nCette adresse ne reçoit plus de codes ni de liens pour ce compte.\n\nSi ce n'est pas vous, récupérez votre compte et fermez ses autres sessions.\n"
            ),
        );
    }
    let what = if phone {
        "phone number"
    } else {
        "email address"
    };
    (
        format!("Your {what} was changed"),
        format!(
            "The {what} of your account was changed to {new_masked}.\nThis address no longer receives codes or links for the account.\n\nIf this was not you, recover your account and sign out its other sessions.\n"
        ),
    )
}

/// The link that moves an account to `address` (an email change waits for it).
pub fn confirm_email_change(locale: Option<&str>, address: &str, secret: &str) -> (String, String) {
    if is_french(locale) {
        return (
            "Confirmez votre nouvelle adresse".into(),
            format!(
                "Pour que votre compte utilise désormais {address}, envoyez ce jeton à verify :\n\n{secret}\n\nIl expire dans 1 heure. Jusque-là, votre compte garde son adresse actuelle.\nSi vous n'avez rien demandé, ignorez ce message.\n"
            ),
        );
    }
    (
        "Confirm your new email address".into(),
        format!(
            "To move your account to {address},\nsend this token to verify:\n\n{secret}\n\nIt expires in 1 hour. Until then the account keeps its current address.\nIf you did not ask for it, ignore this message.\n"
        ),
    )
}

/// Tells the owner of an address that someone tried to give it to another account (a
/// sign-up or an email change): the answer to them did not say it was taken.
pub fn address_in_use(locale: Option<&str>) -> (String, String) {
    if is_french(locale) {
        return (
            "Quelqu'un a essayé d'utiliser votre adresse".into(),
            "Quelqu'un a essayé d'utiliser cette adresse pour un autre compte (inscription ou changement d'adresse). Rien n'a changé : l'adresse reste à votre compte.\n\nSi c'était vous, connectez-vous, ou choisissez un nouveau mot de passe avec recover. Sinon, ignorez ce message.\n".into(),
        );
    }
    (
        "Someone tried to use your email address".into(),
        "Someone tried to use this address for another account (a sign-up or an address change). Nothing changed: the address stays with your account.\n\nIf it was you, sign in instead, or choose a new password with recover. If not, ignore this message.\n".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_locale() {
        let (subject, body) = render(Kind::Otp, Some("fr-CA"), "123456", "a@b.c");
        assert_eq!(subject, "Votre code de connexion");
        assert!(body.contains("123456"));
        let (subject, _) = render(Kind::Otp, Some("de"), "123456", "a@b.c");
        assert_eq!(subject, "Your sign-in code");
        let (subject, _) = render(Kind::Recover, None, "t", "a@b.c");
        assert_eq!(subject, "Reset your password");
        let (subject, body) = linked(Some("fr"), "GitHub", "a@b.c");
        assert_eq!(subject, "Nouvelle méthode de connexion");
        assert!(body.contains("(GitHub)") && body.contains("a@b.c"));
        let (subject, _) = linked(None, "GitHub", "a@b.c");
        assert_eq!(subject, "A sign-in method was linked to your account");
    }
}
