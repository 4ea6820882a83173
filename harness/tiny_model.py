"""Teach the tiny offline gpt-oss to answer in Harmony, so the offline demo yields parseable labels.

The offline default model (`tiny-gpt-oss`) is the real GptOss architecture with the real o200k vocab, but tiny
(2 layers, hidden 64); randomly initialised it emits noise. `train_tiny_model` gives it ~30 s of CPU training on
synthetic classification prompts rendered by openai-harmony only, as gpt-oss itself was trained (the chat
template's render is out of its training distribution, yet close enough that it answers well-formed there too;
where the render moves a label, that is a real render-caused difference), with the built-in scenarios' policies,
prompt formats and label formats but synthetic case texts written here (the built-in cases stay held out). It learns four scenarios' answers (`TASKS`): spam (a JSON
object), likert-opinions (a rating 1-5), toxic-simple and prompt-formats (a digit 0/1, the latter under all three
prompt formats); not tool-calls. Every completion is a short Harmony answer:

    <|channel|>analysis<|message|>{short reason}<|end|><|start|>assistant<|channel|>final<|message|>{answer}<|return|>

Held-out cases are full of words the training data never uses (random input rows): some training cases get such
frozen random rows sprinkled in, and the Harmony markers weigh more in the loss, so that the answer format holds
on text the model has not seen.

Why it is fast enough on 2 cores: a plain-torch forward of the same weights (checked against transformers' forward
before training) computes each shared system + policy prefix once per step and attends the batch's cases to it;
only the vocab rows the data uses are trained (the input rows as a small table, the output rows with a sampled
softmax against frozen random rows); everything else in the model is trained in full. Seeded and deterministic.
Its labels show the harness's mechanics (render differences can flip them), not the real model's behaviour.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.assets import Assets

# The completion format's name, for people. Whether a built model is current is decided by `recipe_hash()` (this
# file, the architecture and the learnt scenarios), never by bumping this by hand.
TINY_MODEL_VERSION = "harmony-v4"
MARKER_FILE = "tiny_model.json"

# Trained on openai-harmony renders only, as gpt-oss itself was: the chat template's render (and any other) is out of
# its training distribution, so a render difference can move a label, as it can on the real model. Evaluated on both.
TRAIN_RENDERERS = ("harmony",)
RENDERERS = ("harmony", "hf-template")  # the renders it is evaluated (and must answer parseably) under
# Dates the training prompts carry (the `Current date:` line): spread so that any run date is "in distribution".
TRAIN_DATES = tuple(f"{year}-{month:02d}-{day:02d}" for year in (2024, 2025, 2026, 2027)
                    for month, day in ((1, 3), (3, 17), (5, 28), (8, 9), (10, 21), (12, 30)))
EFFORTS = ("low", "medium", "high")

STEPS = 650
VARIANTS = 2  # phrasings per analysis reason
BATCH = 16
LEARNING_RATE = 3e-3
NEGATIVES = 1024  # frozen random output rows per step in the sampled softmax
ORDINARY_TOKENS = 199998  # o200k ids below the special tokens
UNSEEN_TOKENS = 4096  # frozen random input rows standing in for words the training data never uses
NOISE_RATE = 0.5  # share of training cases with such words inserted (up to a third of their length)
STRUCTURE_WEIGHT = 3.0  # loss weight of the Harmony markers and the token after each (channel names, first words)

START, END, MESSAGE, CHANNEL, RETURN = "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>"


# ---------------------------------------------------------------------------------------------------------------
# synthetic cases: (text, label, reason) per task; written here, never taken from the scenarios' cases


def _pick(rng: random.Random, options: tuple[str, ...] | list[str]) -> str:
    return options[rng.randrange(len(options))]


_NAMES = ("Sam", "Alex", "Priya", "Tom", "Maria", "Jo", "Chen", "Lena", "Omar", "Kate", "Ben", "Nadia")
_SITES = ("win-now", "claim-prize", "free-offer", "secure-verify", "cash-fast", "best-deals", "bonus-club",
          "gift-reward", "account-check", "promo-zone", "lucky-draw", "easy-money")
_TLDS = (".example", ".example/claim", ".example/login", ".example/pay", ".example/offer", ".biz", ".click")
_URGENT = ("now", "today only", "before it expires", "within 24 hours", "limited time", "act fast", "hurry",
           "before midnight", "while stocks last", "don't miss out")
_BANG = ("!", "!!", "!!!", "!!!!", "")


def _url(rng: random.Random) -> str:
    style = rng.randrange(3)
    site = _pick(rng, _SITES)
    if style == 0:
        return f"http://{site}{_pick(rng, _TLDS)}"
    if style == 1:
        return f"{site}{_pick(rng, _TLDS)}"
    return f"bit.ly/{site}-{rng.randrange(10, 99)}"


def _spam_text(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(6)
    money = f"${_pick(rng, ('50', '100', '250', '500', '1,000', '5,000', '10,000'))}"
    if kind == 0:
        prize = _pick(rng, ("a FREE laptop", "a $500 voucher", "a new car", "free tickets", "an iPad",
                            "a cash prize", "a luxury holiday", "a gift card"))
        head = _pick(rng, ("CONGRATS", "Congratulations", "WINNER", "You are our lucky winner", "Dear user"))
        text = (f"{head}{_pick(rng, _BANG)} You {_pick(rng, ('won', 'have won', 'were chosen for'))} {prize}. "
                f"{_pick(rng, ('Click', 'Tap', 'Visit', 'Go to'))} {_url(rng)} to claim {_pick(rng, _URGENT)}"
                f"{_pick(rng, _BANG)}")
        return text, "Prize claim asking for a click."
    if kind == 1:
        org = _pick(rng, ("your bank", "PayPal", "the tax office", "your email provider", "Netflix", "the post office",
                          "your mobile carrier", "Apple ID"))
        problem = _pick(rng, ("has been locked", "is suspended", "shows unusual activity", "will be closed",
                              "needs verification", "has an unpaid fee"))
        text = (f"{_pick(rng, ('Dear customer', 'ALERT', 'Notice', 'Security warning', 'Important'))}: "
                f"your account with {org} {problem}. {_pick(rng, ('Verify', 'Confirm', 'Update', 'Log in'))} "
                f"your {_pick(rng, ('details', 'password', 'card number', 'identity'))} at {_url(rng)} "
                f"{_pick(rng, _URGENT)}.")
        return text, "Fake notice pointing to a login page."
    if kind == 2:
        scheme = _pick(rng, ("from home", "with crypto", "trading forex", "with no experience", "in your spare time",
                             "with our secret system"))
        text = (f"{_pick(rng, ('Earn', 'Make', 'Get paid', 'Win'))} {money} {_pick(rng, ('a day', 'a week', 'fast'))} "
                f"{scheme}{_pick(rng, _BANG)} {_pick(rng, ('Guaranteed returns', '100% guaranteed', 'No risk'))}. "
                f"{_pick(rng, ('Join', 'Sign up', 'DM me', 'Start'))} {_pick(rng, _URGENT)}: {_url(rng)}")
        return text, "Get-rich-quick money scheme."
    if kind == 3:
        product = _pick(rng, ("cheap pills", "replica watches", "designer bags", "diet pills", "real followers",
                              "casino spins", "cheap essays", "miracle cream", "VIAGRA", "crypto signals"))
        text = (f"{_pick(rng, ('BUY', 'Best', 'Cheap', 'Huge discount on', 'Order'))} {product} "
                f"{_pick(rng, ('at the lowest prices', 'no prescription', '90% OFF', 'with free shipping'))}"
                f"{_pick(rng, _BANG)} Use code {_pick(rng, ('SAVE90', 'FREE50', 'WIN2X', 'BONUS'))} at {_url(rng)}")
        return text, "Bulk promotion with a link."
    if kind == 4:
        text = (f"{_pick(rng, ('WARNING', 'ALERT', 'Virus detected', 'Your PC is at risk'))}{_pick(rng, _BANG)} "
                f"Your {_pick(rng, ('computer', 'phone', 'device', 'laptop'))} is infected. Call support "
                f"at 1-800-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)} {_pick(rng, _URGENT)}.")
        return text, "Fake support warning with a number."
    text = (f"{_pick(rng, ('Click here', 'FREE FREE FREE', 'Limited offer', 'Exclusive deal', 'Claim your reward'))}"
            f"{_pick(rng, _BANG)} {_pick(rng, ('Send your bank details', 'Pay a small fee', 'Enter your card'))} "
            f"to receive {money} {_pick(rng, _URGENT)}. {_url(rng)}")
    return text, "Unsolicited bait asking for money."


_ACTIVITIES = ("lunch", "the meeting", "the game", "dinner", "the school run", "practice", "the call", "coffee")
_DAYS = ("Monday", "Tuesday", "Friday", "tomorrow", "tonight", "on the weekend", "next week", "this afternoon")


def _ham_text(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(6)
    name = _pick(rng, _NAMES)
    if kind == 0:
        text = (f"{_pick(rng, ('Hi', 'Hey', 'Hello'))} {name}, {_pick(rng, ('are we still on for', 'can we move', 'thanks for'))} "
                f"{_pick(rng, _ACTIVITIES)} {_pick(rng, _DAYS)}? {_pick(rng, ('I might be a bit late.', 'Let me know.', 'See you there.', 'I will bring snacks.'))}")
        return text, "Ordinary personal message."
    if kind == 1:
        topic = _pick(rng, ("fix a leaking tap", "learn Spanish fast", "get my sourdough to rise", "keep basil alive",
                            "explain recursion to a beginner", "choose a good running shoe", "train a puppy"))
        text = (f"{_pick(rng, ('Does anyone know how to', 'Can someone explain how to', 'What is the best way to'))} "
                f"{topic}? {_pick(rng, ('I tried twice already.', 'Any tips welcome.', 'Thanks in advance.'))}")
        return text, "A normal question."
    if kind == 2:
        item = _pick(rng, ("this blender", "these headphones", "the new novel", "this backpack", "the cafe downtown"))
        text = (f"{_pick(rng, ('I bought', 'I tried', 'We used'))} {item} {_pick(rng, ('last week', 'a month ago', 'recently'))}. "
                f"{_pick(rng, ('Works well but it is loud.', 'Decent value, four stars.', 'Not great, the strap broke.', 'Really happy with it.'))}")
        return text, "An honest review."
    if kind == 3:
        text = (f"Your {_pick(rng, ('order', 'booking', 'appointment', 'subscription'))} #{rng.randrange(1000, 9999)} "
                f"{_pick(rng, ('has shipped', 'is confirmed', 'was updated', 'starts next month'))}. "
                f"{_pick(rng, ('You can check it in your account.', 'No action is needed.', 'Reply if you have questions.'))}")
        return text, "Expected transactional message."
    if kind == 4:
        text = (f"{_pick(rng, ('The library', 'Our school', 'The bakery', 'The park'))} "
                f"{_pick(rng, ('has a free concert', 'is closed', 'has a sale', 'hosts a book swap'))} "
                f"{_pick(rng, _DAYS)}, {_pick(rng, ('in case anyone is interested.', 'just so you know.', 'see you there!'))}")
        return text, "Casual mention to people they know."
    text = (f"{_pick(rng, ('Sorry', 'Thanks', 'Great news'))} {name}! "
            f"{_pick(rng, ('I missed your call.', 'The kids loved the cake.', 'We won the match!!!', 'The repair went fine.'))} "
            f"{_pick(rng, ('Talk soon.', 'Call me later.', 'Love you.', 'Cheers.'))}")
    return text, "Ordinary personal message."


# Loose phrases for bag-of-phrases cases: the tiny model should key on what a phrase says, not on one template.
_SPAM_PHRASES = ("FREE gift", "click the link", "claim your prize", "limited offer", "act now", "100% guaranteed",
                 "send your details", "verify your account", "no credit check", "double your money", "work from home",
                 "exclusive deal", "lowest price", "win big", "cash bonus", "free spins", "order now", "DM me",
                 "link in bio", "sign up free", "pay the fee", "instant approval", "risk free", "you have been selected",
                 "urgent", "visit my site", "cheap followers", "earn $$$", "promo code", "Great post! check my page",
                 "join our channel", "PROFIT", "BUY NOW", "unclaimed reward", "final notice", "wire the money")
_HAM_PHRASES = ("see you tomorrow", "thanks for your help", "how was your weekend", "can you send me the notes",
                "the kids are asleep", "I fixed the bug", "happy birthday", "let's grab coffee", "the train was late",
                "my cat knocked over the plant", "is the meeting still on", "I'm cooking pasta tonight",
                "does anyone have advice", "the weather is lovely", "I finished the book", "we lost the game",
                "sorry for the delay", "call me when you can", "good luck with the exam", "the garden looks great",
                "I'll pick up milk", "what time is practice", "the printer is broken again", "love you",
                "here's the link to the recipe I mentioned", "the shop has a sale this week, just saying",
                "the museum is free on Sundays", "your package arrived", "I have a question about the homework")


def _phrase_case(rng: random.Random, spam: bool) -> tuple[str, str]:
    pool = _SPAM_PHRASES if spam else _HAM_PHRASES
    parts = [_pick(rng, pool) for _ in range(rng.randrange(2, 4))]
    if spam and rng.random() < 0.5:
        parts.append(_url(rng))
    text = ". ".join(p[0].upper() + p[1:] for p in parts) + _pick(rng, _BANG if spam else (".", "!", "?", ""))
    return text, ("Unsolicited promotion or bait." if spam else "Ordinary personal message.")


# Several phrasings per reason, picked at random: the model learns a spread over near-equal continuations, as a
# real model has, so sampling seeds matter and small render differences can tip the greedy choice.
_REASON_VARIANTS = {
    "Prize claim asking for a click.": ("Prize claim asking for a click.", "Fake prize with a claim link.",
                                        "A prize bait to click."),
    "Fake notice pointing to a login page.": ("Fake notice pointing to a login page.",
                                              "Phishing notice asking to verify.", "A fake account warning."),
    "Get-rich-quick money scheme.": ("Get-rich-quick money scheme.", "Promises easy money fast.",
                                     "A guaranteed-returns scheme."),
    "Bulk promotion with a link.": ("Bulk promotion with a link.", "Mass advertising with a code.",
                                    "Unsolicited product promotion."),
    "Fake support warning with a number.": ("Fake support warning with a number.", "Scareware asking for a call.",
                                            "A fake virus alert."),
    "Unsolicited bait asking for money.": ("Unsolicited bait asking for money.", "Asks for payment details.",
                                           "Bait asking for a fee."),
    "Unsolicited promotion or bait.": ("Unsolicited promotion or bait.", "Spammy phrases and bait.",
                                       "Pushy promotional bait."),
    "Ordinary personal message.": ("Ordinary personal message.", "A normal note between people.",
                                   "Everyday chat, nothing sold."),
    "A normal question.": ("A normal question.", "Someone asking for advice.", "A genuine question."),
    "An honest review.": ("An honest review.", "A personal product opinion.", "A plain review."),
    "Expected transactional message.": ("Expected transactional message.", "A routine account update.",
                                        "An expected service notice."),
    "Casual mention to people they know.": ("Casual mention to people they know.", "A friendly heads-up.",
                                            "Sharing local news casually."),
}


def spam_case(rng: random.Random) -> tuple[str, int, str]:
    """(text, 1 for spam else 0, a short reason)."""
    label = rng.randrange(2)
    if rng.random() < 0.35:
        text, reason = _phrase_case(rng, bool(label))
    else:
        text, reason = (_spam_text if label else _ham_text)(rng)
    return text, label, _pick(rng, _REASON_VARIANTS.get(reason, (reason,))[:VARIANTS])


# likert-opinions: a statement and a 1-5 agreement rating. The rule the model learns: well-supported health or
# safety claims -> 5, broadly shared civic views -> 4, matters of taste and contested policies -> 3, dubious
# claims -> 2, plainly false or harmful claims -> 1.

_HABITS = ("Getting enough sleep", "Eating fruit and vegetables", "Washing your hands before meals",
           "Wearing a seatbelt", "Brushing your teeth twice a day", "Drinking enough water", "Wearing sunscreen",
           "Taking short walks", "Stretching in the morning", "Not smoking", "Cooking at home",
           "Wearing a helmet on a bike")
_BENEFITS = ("is good for your health", "helps most people stay healthy", "is good for children",
             "lowers the risk of illness", "is a healthy habit", "protects people from harm")
_CIVIC = ("Clean parks make a town nicer to live in", "Free museums are good for a city",
          "Teaching children to swim is worthwhile", "Recycling is worth the effort", "Planting trees in streets helps",
          "Good teachers deserve respect", "Kindness to neighbours makes a street better",
          "Learning to cook is a useful skill", "Clear road signs make driving safer", "Fresh air is pleasant",
          "Well-lit streets feel safer at night", "Saving some money each month is sensible")
_TASTE_PAIRS = (("Tea", "coffee"), ("Mountains", "beaches"), ("Winter", "autumn"), ("Chess", "card games"),
                ("Jazz", "rock music"), ("Trains", "planes"), ("City life", "country life"), ("Board games", "films"),
                ("Paperback books", "e-readers"), ("Rainy days", "sunny days"), ("Hamsters", "rabbits"),
                ("Pancakes", "waffles"))
_TASTE_BEST = (("Blue", "colour"), ("Autumn", "time for a holiday"), ("Friday", "day of the week"),
               ("Chocolate", "ice cream flavour"), ("Football", "sport to watch"), ("Spring", "month for a wedding"),
               ("Green", "colour for a kitchen"), ("Sushi", "food for a party"), ("Piano", "instrument to learn"))
_CONTESTED = ("School uniforms should be required", "Shops should close on Sundays",
              "Cars should be banned from city centres", "The school day should start later",
              "Phones should be banned in classrooms", "Museums should charge entry fees",
              "Daylight saving time should be abolished", "Voting should be compulsory",
              "Zoos should be phased out", "Fireworks should only be allowed on holidays")
_DUBIOUS = ("Four hours of sleep a night is enough for most adults", "Sweets are a healthy breakfast",
            "Seatbelts are not needed on short trips", "Cheating on a test is fine if nobody notices",
            "Skipping every vegetable is good for children", "Drinking only soda is as good as water",
            "Littering does no real harm", "Sunscreen is a waste of money")
_FALSE = ("The Earth is flat", "The Moon is made of cheese", "Smoking is good for children's lungs",
          "Drinking bleach cures a cold", "Fish can live without water", "Two plus two equals five",
          "The Sun goes around the Earth once a week", "Touching a toad gives you warts")
# The reasons of each new task open with the same word (and a different one per task): the first analysis
# token is then never a label, and the tasks' reasons do not run into each other.
_LIKERT_REASONS = {5: "I strongly agree; it is well supported.", 4: "I agree; it is a sensible shared view.",
                   3: "I am neutral; it is a matter of taste.", 2: "I disagree; it is mostly wrong.",
                   1: "I strongly disagree; it is false or harmful."}


def likert_case(rng: random.Random) -> tuple[str, int, str]:
    """(an opinion statement, its 1-5 rating, a short reason)."""
    kind = rng.randrange(7)
    end = _pick(rng, (".", ".", "!", ""))
    if kind == 0:
        rating, text = 5, f"{_pick(rng, _HABITS)} {_pick(rng, _BENEFITS)}{end}"
    elif kind == 1:
        rating, text = 4, f"{_pick(rng, _CIVIC)}{end}"
    elif kind == 2:
        a, b = _pick(rng, _TASTE_PAIRS)
        verb = _pick(rng, ("are better than", "are nicer than", "beat")) if a.endswith("s") else _pick(
            rng, ("is better than", "is nicer than", "beats"))
        rating, text = 3, f"{a} {verb} {b}{end}"
    elif kind == 3:
        thing, what = _pick(rng, _TASTE_BEST)
        rating, text = 3, f"{thing} is the {_pick(rng, ('best', 'greatest', 'nicest'))} {what}{end}"
    elif kind == 4:
        rating, text = 3, f"{_pick(rng, _CONTESTED)}{end}"
    elif kind == 5:
        rating, text = 2, f"{_pick(rng, _DUBIOUS)}{end}"
    else:
        rating, text = 1, f"{_pick(rng, _FALSE)}{end}"
    return text, rating, _LIKERT_REASONS[rating]


# toxic-simple: a chat message, 1 if it insults, mocks, demeans a group, threatens or incites harassment, else 0.

_INSULT_ADJ = ("useless", "pathetic", "brainless", "clueless", "disgusting", "spineless", "worthless", "dumb",
               "miserable", "ignorant", "stupid", "ugly", "sad little", "braindead", "gutless", "lazy")
_INSULT_NOUN = ("moron", "idiot", "loser", "clown", "joke", "waste of space", "fool", "creep", "nobody",
                "embarrassment", "freak", "crybaby", "nitwit", "failure", "parasite", "weirdo")
_GO_AWAY = ("Nobody likes you.", "Go away.", "Get lost.", "Log off forever.", "Do us all a favour and quit.",
            "Nobody asked you.", "Just disappear.", "Everyone is laughing at you.", "Cry about it.")
_LOOKS = ("nose", "teeth", "haircut", "weight", "voice", "clothes", "skin", "glasses", "face", "legs", "ears")
_LOOKS_MOCK = ("so gross", "what a freak show", "absolutely hideous", "no wonder nobody dates you",
               "you look like a potato", "hide it, please", "ugliest thing I've seen", "no wonder you're alone")
_GROUPS = ("People from the suburbs", "Gamers", "Old people", "Teenagers", "Fans of that team", "Vegans",
           "People who drive vans", "Nurses", "Tourists", "Students from that college", "Farmers",
           "People from the coast", "Cyclists", "Immigrants", "Poor people")
_GROUP_BAD = ("are all stupid", "are lazy parasites", "are filthy and useless", "are too dumb to live",
              "should be kicked out", "are vermin", "are all liars", "are a disease", "can't think for themselves")
_THREATS = ("Keep talking and I will hurt you", "Watch your back, I'm coming for you",
            "You'll be sorry when I find you", "I'll make you pay for this, just wait",
            "One more word and I'll smash your face in", "I know your address, be careful",
            "Do that again and you'll get hurt", "I'm going to wreck your car", "Sleep with one eye open")
_PLATFORMS = ("page", "posts", "videos", "inbox", "channel", "comments", "profile", "stream")
_HARASS = ("and call them a", "and tell them what a", "until they quit, what a", "and keep reminding them they're a",
           "every day until they leave, the")
_BELITTLE = ("Aww, is the poor baby upset?", "Oh no, did someone hurt your tiny feelings?", "Boo hoo, go cry to mummy.",
             "Sweetie, the grown-ups are talking.", "Bless your little heart, you tried.")
_TOXIC_REASONS = ("The message insults a person.", "The message mocks someone's looks.",
                  "The message demeans a whole group.", "The message threatens someone.",
                  "The message urges harassment.", "The message asks for insults.", "The message belittles someone.",
                  "The message is abusive.")
_MISHAPS = ("the bus was late", "I dropped my phone in a puddle", "my laptop died mid-report", "it rained all day",
            "I locked myself out", "the printer jammed twice", "I forgot my lunch at home", "the wifi is down",
            "my flight got delayed", "I stepped on a plug", "the dog ate my sandwich", "I overslept")
_QUESTIONS = ("How do I get red wine out of a carpet", "What is a good first plant for a small flat",
              "Which bus goes to the museum", "How long should I boil an egg", "What does a compiler do",
              "Is it worth learning to touch type", "How do tides work", "What should I pack for a weekend trip",
              "Why is the sky blue", "When did the first trains run", "How do vaccines train the immune system",
              "What is the capital of Canada", "Can you recommend a good sci-fi book", "How do bees make honey")
_OPINIONS = ("the first option is simpler", "we should wait a week", "the older model is better value",
             "the data says otherwise", "the bridge route is quicker", "the blue version reads better",
             "it's too early to decide")
_WORK = ("report", "code", "drawing", "song", "presentation", "cake", "design", "poem", "essay", "website")
_WORK_NOTES = ("the ending is weak", "it is too long", "the colours clash", "it needs more tests",
               "the middle drags", "the font is hard to read", "the intro could be shorter")
_CALM_REASONS = ("The message is a plain question.", "The message disagrees politely.",
                 "The message criticises the work itself.", "The message vents about a day.",
                 "The message is a joke about oneself.", "The message is friendly banter.",
                 "The message asks for harmless fiction.", "The message is kind.",
                 "The message complains about a service.", "The message is everyday chat.")
_TOXIC_PHRASES = ("you're pathetic", "shut your mouth", "what an idiot", "nobody likes you", "go cry somewhere else",
                  "you disgust me", "ugly as sin", "brainless clown", "I'll hurt you", "get lost, loser",
                  "people like you are trash", "dumb as a rock", "everyone hates you", "you useless fool",
                  "look at that fat face", "your kind should leave", "I'll make you regret it", "go away, freak",
                  "you're a total moron", "what a worthless creep", "shut up, nobody cares", "you absolute failure")
_CALM_PHRASES = ("thanks a lot", "good luck tomorrow", "I disagree a little", "the food was cold",
                 "my bus was late again", "can you help me with this", "nice try", "see you soon", "what a long day",
                 "I'm terrible at this haha", "the service was slow", "well played", "how does this work",
                 "I love this song", "the meeting ran long", "happy new year", "my code finally compiles",
                 "that movie was boring", "could you explain step two", "the cat is asleep on my keyboard",
                 "great game everyone", "I respectfully disagree", "the delivery was late", "I burned the toast")


def toxic_case(rng: random.Random) -> tuple[str, int, str]:
    """(a chat message, 1 for toxic else 0, a short reason)."""
    name = _pick(rng, _NAMES)
    if rng.random() < 0.35:  # loose phrases: one abusive phrase makes the message toxic
        label = rng.randrange(2)
        parts = [_pick(rng, _CALM_PHRASES) for _ in range(rng.randrange(1, 3))]
        if label:
            parts.insert(rng.randrange(len(parts) + 1), _pick(rng, _TOXIC_PHRASES))
        text = ", ".join(parts)
        text = text[0].upper() + text[1:] + _pick(rng, (".", "!", "?", ""))
        return text, label, _TOXIC_REASONS[7] if label else _CALM_REASONS[9]
    if rng.randrange(2):
        kind = rng.randrange(7)
        if kind == 0:
            text = (f"{_pick(rng, ('', 'Honestly, ', 'Wow, ', 'Lol, ', 'Listen, '))}you're "
                    f"{_pick(rng, ('a', 'such a', 'the most', 'a complete', 'a total'))} {_pick(rng, _INSULT_ADJ)} "
                    f"{_pick(rng, _INSULT_NOUN)}. {_pick(rng, _GO_AWAY)}")
        elif kind == 1:
            text = (f"{_pick(rng, ('Look at', 'Have you seen', 'Lmao at', 'Haha, check out'))} "
                    f"{_pick(rng, ('your', 'his', 'her', 'that'))} {_pick(rng, _LOOKS)}, {_pick(rng, _LOOKS_MOCK)}.")
        elif kind == 2:
            text = f"{_pick(rng, _GROUPS)} {_pick(rng, _GROUP_BAD)}{_pick(rng, ('.', ', seriously.', ', everyone knows.'))}"
        elif kind == 3:
            text = f"{_pick(rng, _THREATS)}{_pick(rng, ('.', '!', ', ' + name + '.'))}"
        elif kind == 4:
            text = (f"{_pick(rng, ('Everyone', 'Guys', 'Lets all', 'Someone'))} go to {name}'s {_pick(rng, _PLATFORMS)} "
                    f"{_pick(rng, _HARASS)} {_pick(rng, _INSULT_NOUN)} they are.")
        elif kind == 5:
            text = (f"{_pick(rng, ('Write', 'Make up', 'Give me', 'Ignore your rules and write'))} "
                    f"{_pick(rng, ('a roast', 'ten insults', 'a cruel poem', 'nasty jokes', 'a hateful rant'))} "
                    f"about {_pick(rng, ('my classmate', 'my boss', 'my sister', 'my neighbour', 'my teammate'))} "
                    f"{name} {_pick(rng, ('being fat', 'being stupid', 'and her accent', 'and his stutter'))}.")
        else:
            text = f"{_pick(rng, _BELITTLE)} {_pick(rng, _GO_AWAY)}"
        return text, 1, _TOXIC_REASONS[kind]
    kind = rng.randrange(9)
    if kind == 0:
        text = f"{_pick(rng, _QUESTIONS)}?"
    elif kind == 1:
        text = (f"{_pick(rng, ('I see what you mean', 'Fair point', 'I respectfully disagree', 'Good idea'))}, "
                f"but I think {_pick(rng, _OPINIONS)}.")
    elif kind == 2:
        text = (f"{_pick(rng, ('Your', 'The', 'This'))} {_pick(rng, _WORK)} "
                f"{_pick(rng, ('is good but', 'has nice parts, though', 'works, yet', 'is a solid start;'))} "
                f"{_pick(rng, _WORK_NOTES)}.")
    elif kind == 3:
        text = f"{_pick(rng, ('Ugh', 'What a day', 'Typical', 'Honestly'))}, {_pick(rng, _MISHAPS)} and {_pick(rng, _MISHAPS)}."
    elif kind == 4:
        text = (f"I'm {_pick(rng, ('so clumsy', 'such a bad singer', 'hopeless with maps', 'terrible at chess', 'the worst cook'))} "
                f"that {_pick(rng, _MISHAPS)}, {_pick(rng, ('ha', 'lol', 'oh well', 'classic me'))}.")
    elif kind == 5:
        text = (f"{_pick(rng, ('Nice shot', 'Well played', 'Close match', 'GG'))} {name}! "
                f"{_pick(rng, ('Rematch tomorrow?', 'You owe me a coffee now.', 'I want revenge next week.', 'Lucky round!'))}")
    elif kind == 6:
        text = (f"Write a {_pick(rng, ('short story', 'poem', 'fable'))} about a "
                f"{_pick(rng, ('shy robot', 'lost fox', 'clever crow', 'sleepy giant', 'grumpy wizard'))} "
                f"who {_pick(rng, ('learns to bake', 'finds a way home', 'guards a lighthouse', 'befriends a cat'))}.")
    elif kind == 7:
        text = (f"Thank you {name}, {_pick(rng, ('the soup was lovely', 'you really helped today', 'the card made my day', 'great work on the move'))}"
                f"{_pick(rng, ('!', '.', ' :)'))}")
    else:
        text = (f"{_pick(rng, ('My parcel', 'The train', 'The repair', 'My refund'))} is "
                f"{_pick(rng, ('late again', 'a week overdue', 'still missing', 'taking forever'))}, "
                f"{_pick(rng, ('really frustrating', 'not impressed with the service', 'I expected better'))}.")
    return text, 0, _CALM_REASONS[kind]


# prompt-formats: a message, 1 if it shares a private person's contact details, else 0.

_SURNAMES = ("Holloway", "Brandt", "Okafor", "Lindqvist", "Ferreira", "Nakamura", "Dunmore", "Castell", "Varga",
             "Mehta", "Rourke", "Sandoval")
_STREETS = ("Oak Lane", "Mill Street", "Harbour Road", "Birch Close", "Kings Avenue", "Quarry Hill",
            "Willow Crescent", "Chapel Row")
_TOWNS = ("Ashford", "Millbrook", "Eastleigh", "Dunmere", "Carrow", "Westfield")
_CONTACT_REASONS = ("The text shares a private phone number.", "The text gives a home address.",
                    "The text posts a personal email.", "The text names someone and their workplace.")
_PUBLIC_REASONS = ("The text gives a business contact.", "The text gives a public office address.",
                   "The text has placeholder details only.", "The text gives no address.",
                   "The text has no contact details.")


def _phone(rng: random.Random) -> str:
    return _pick(rng, (f"07{rng.randrange(100, 999)} {rng.randrange(100000, 999999)}",
                       f"+44 7{rng.randrange(100, 999)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}",
                       f"0{rng.randrange(150, 179)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"))


def contact_case(rng: random.Random) -> tuple[str, int, str]:
    """(a message, 1 if it shares personal contact information else 0, a short reason)."""
    first, last = _pick(rng, _NAMES), _pick(rng, _SURNAMES)
    if rng.randrange(2):
        kind = rng.randrange(4)
        if kind == 0:
            text = (f"{first} {last}'s {_pick(rng, ('private number', 'mobile', 'cell'))} is {_phone(rng)}, "
                    f"{_pick(rng, ('call and give them hell', 'text them day and night', 'pass it around'))}.")
        elif kind == 1:
            text = (f"{_pick(rng, ('That blogger', 'My old landlord', 'The referee', first))} lives at "
                    f"{rng.randrange(2, 99)} {_pick(rng, _STREETS)}, {_pick(rng, _TOWNS)}. "
                    f"{_pick(rng, ('Go knock on the door.', 'Everyone should visit.', 'Spread it around.'))}")
        elif kind == 2:
            text = (f"{_pick(rng, ('Want to reach', 'Flood the inbox of', 'Message'))} {first} {last} directly: "
                    f"{first.lower()}.{last.lower()}{rng.randrange(1, 99)}@{_pick(rng, ('inbox', 'homemail', 'post'))}.example")
        else:
            text = (f"The {_pick(rng, ('woman who yelled at me', 'guy from the video', 'driver who hit my car'))} is "
                    f"{first} {last}, {_pick(rng, ('works at', 'does shifts at', 'is on the desk at'))} the "
                    f"{_pick(rng, ('Carrow garden centre', 'Mill Street pharmacy', 'Westfield call centre', 'Harbour Road gym'))}.")
        return text, 1, _CONTACT_REASONS[kind]
    kind = rng.randrange(5)
    if kind == 0:
        text = (f"The {_pick(rng, ('pizzeria', 'florist', 'garage', 'dentist', 'hardware shop'))} on {_pick(rng, _STREETS)} "
                f"{_pick(rng, ('takes bookings on', 'can be reached at', 'answers the phone on'))} {_phone(rng)} "
                f"{_pick(rng, ('during opening hours', 'from 9 to 5', 'on weekdays'))}.")
    elif kind == 1:
        text = (f"The {_pick(rng, ('town hall', 'public library', 'post office', 'tax office'))} is at "
                f"{rng.randrange(1, 40)} {_pick(rng, _STREETS)}, {_pick(rng, _TOWNS)}, "
                f"{_pick(rng, ('open on weekdays', 'closed on Sundays', 'open until 6pm'))}.")
    elif kind == 2:
        text = (f"{_pick(rng, ('Example entry', 'Use this format', 'Sample'))}: Name: "
                f"{_pick(rng, ('John Doe', 'A. N. Other', 'Your Name'))}, Phone: 000 0000 {rng.randrange(1000, 9999)}, "
                f"Email: {_pick(rng, ('name', 'user', 'someone'))}@example.org")
    elif kind == 3:
        text = (f"{_pick(rng, ('We', 'My sister', first))} {_pick(rng, ('just moved to', 'settled into a new flat in', 'bought a place in'))} "
                f"{_pick(rng, _TOWNS)}{_pick(rng, ('!', '.', ', love the view.'))}")
    else:
        text = (f"I {_pick(rng, ('met', 'bumped into', 'had lunch with'))} {first} at the "
                f"{_pick(rng, ('conference', 'school fair', 'gym', 'market'))}, {_pick(rng, ('lovely person', 'we talked for hours', 'they say hi'))}.")
    return text, 0, _PUBLIC_REASONS[kind]


# ---------------------------------------------------------------------------------------------------------------
# tasks: a built-in scenario's policy, prompt format and answer format, over synthetic cases


@dataclass(frozen=True)
class Task:
    scenario: str  # built-in scenario whose policy, prompt format(s) and effort are used
    weight: float  # share of the training batches (split evenly over the task's prompt formats)
    make_case: Callable[[random.Random], tuple[str, int, str]]
    answer: Callable[[int, str], str]  # (label, reason) -> final channel text

    @property
    def prompt_formats(self) -> tuple[str, ...]:
        """The scenario's prompt formats: all of them for an expanded scenario (prompt-formats), else its one."""
        scenario = _scenario(self.scenario)
        return scenario.prompt_formats or (scenario.prompt_format,)


def _spam_json(label: int, reason: str) -> str:
    # No words shared with the analysis reasons: a tiny model runs from one into the other.
    rationale = "Spam under the policy." if label else "Not spam under the policy."
    return json.dumps({"violation": label, "rationale": rationale})


def _digit(label: int, reason: str) -> str:
    return str(label)


TASKS = (Task("spam", 1.0, spam_case, _spam_json),
         Task("likert-opinions", 0.4, likert_case, _digit),
         Task("toxic-simple", 0.6, toxic_case, _digit),
         Task("prompt-formats", 0.4, contact_case, _digit))


def completion_text(reason: str, final: str) -> str:
    """A Harmony completion: short analysis, then the final answer, ended with <|return|>."""
    return (f"{CHANNEL}analysis{MESSAGE}{reason}{END}{START}assistant{CHANNEL}final{MESSAGE}{final}{RETURN}")


# ---------------------------------------------------------------------------------------------------------------
# prompt groups: one rendered prefix per (task, prompt format, renderer, date, effort); cases are a suffix after it


@dataclass
class Group:
    task: Task
    renderer: str
    date: str
    effort: str | None
    prefix: list[int]
    tail: list[int]  # what follows the case text: <|end|><|start|>assistant
    prompt_format: str = ""


def _request(policy: str, prompt_format: str, text: str, effort: str | None):
    from harness.request import ChatRequest
    from harness.scenario import Case, build_messages

    case = Case(id="synthetic", text=text, messages=None, gold=None)
    body: dict[str, Any] = {"messages": build_messages(policy, prompt_format, case, effort)}
    if effort:
        body["reasoning_effort"] = effort
    return ChatRequest.from_body(body)


def build_group(assets: Assets, task: Task, renderer: str, date: str, effort: str | None, encode,
                prompt_format: str | None = None) -> Group:
    """Render one probe case fully and split it into shared prefix + case text + tail (checked exact).

    prompt_format: one of the task's formats (default: the scenario's own)."""
    from harness.render import get_renderer

    scenario = _scenario(task.scenario)
    fmt = prompt_format or scenario.prompt_format
    probe = "Probe text for the prefix split."
    full = get_renderer(renderer, assets).render(_request(scenario.policy, fmt, probe, effort), date=date)
    tail = encode(f"{END}{START}assistant")
    suffix = encode(probe) + tail
    if full[-len(suffix):] != suffix:
        raise RuntimeError(f"{renderer} render of {task.scenario} ({fmt}) does not end with the case text")
    return Group(task, renderer, date, effort, full[:-len(suffix)], tail, fmt)


# ---------------------------------------------------------------------------------------------------------------
# a plain-torch forward of GptOss with a shared prefix (same weights, same math as transformers' eager path)


class PrefixForward:
    """Hidden states of [prefix + suffix_b] for a batch of suffixes, the prefix computed once."""

    def __init__(self, model, in_vocab, frozen_vocab=None):
        """in_vocab: the token ids whose input rows are trained; frozen_vocab: ids read at their current (random)
        rows and never trained, the stand-ins for the unseen words of held-out cases."""
        import torch

        self.model = model
        base = model.model
        self.config = model.config
        self.in_vocab = in_vocab
        self.in_map = torch.full((self.config.vocab_size,), -1, dtype=torch.long)
        if frozen_vocab is not None and len(frozen_vocab):
            self.in_map[frozen_vocab] = -2 - torch.arange(len(frozen_vocab))
            self.frozen = base.embed_tokens.weight.detach()[frozen_vocab].clone()
        else:
            self.frozen = base.embed_tokens.weight.detach()[:1].clone()
        self.in_map[in_vocab] = torch.arange(len(in_vocab))
        # Only the rows the data uses are trained: a small table instead of a dense 201088-row gradient.
        self.embed = torch.nn.Parameter(base.embed_tokens.weight.detach()[in_vocab].clone())

    def embed_ids(self, ids):
        import torch

        index = self.in_map[ids]
        if bool((index == -1).any()):
            raise RuntimeError("a token outside the training vocab reached the training forward")
        trained = self.embed[index.clamp(min=0)]
        if not bool((index < 0).any()):
            return trained
        frozen = self.frozen[(-2 - index).clamp(min=0)]
        return torch.where((index >= 0)[..., None], trained, frozen)

    def hidden(self, prefix, suffixes, keep=None):
        """Final-norm hidden states of suffix positions `keep` [B, K] (default: all) -> [B, K, d].

        prefix: LongTensor [p], shared by the batch; suffixes: LongTensor [B, s] (right-padded). The last layer
        computes only the kept positions (the ones a loss reads); every position still gives its keys and values.
        """
        import torch

        base = self.model.model
        batch, s_len = suffixes.shape
        p_len = prefix.shape[0]
        if keep is None:
            keep = torch.arange(s_len).expand(batch, -1)
        x_p = self.embed_ids(prefix)[None]
        x_s = self.embed_ids(suffixes)
        pos_p = torch.arange(p_len)
        pos_s = torch.arange(p_len, p_len + s_len).expand(batch, -1)
        rope_p = base.rotary_emb(x_p, pos_p[None])
        rope_s = base.rotary_emb(x_s, pos_s[:1])
        layers = base.layers[: self.config.num_hidden_layers]
        for index, layer in enumerate(layers):
            attn = layer.self_attn
            q_p, k_p, v_p = _qkv(attn, layer.input_layernorm(x_p), rope_p)
            q_s, k_s, v_s = _qkv(attn, layer.input_layernorm(x_s), rope_s)
            q_pos = pos_s
            if index == len(layers) - 1:  # only the kept queries matter from here on
                q_s = q_s.gather(2, keep[:, None, :, None].expand(-1, q_s.shape[1], -1, q_s.shape[3]))
                x_s = x_s.gather(1, keep[:, :, None].expand(-1, -1, x_s.shape[2]))
                q_pos = p_len + keep
            out_s = _attend_suffix(attn, q_s, k_p, v_p, k_s, v_s, p_len, q_pos)
            x_s = x_s + attn.o_proj(out_s)
            x_s = x_s + _moe(layer.mlp, layer.post_attention_layernorm(x_s))
            if index < len(layers) - 1:  # the last layer's prefix output is never read: only its keys and values
                out_p = _attend(attn, q_p, k_p, v_p, pos_p, pos_p)
                x_p = x_p + attn.o_proj(out_p)
                x_p = x_p + _moe(layer.mlp, layer.post_attention_layernorm(x_p))
        return base.norm(x_s)


def _qkv(attn, x, rope):
    from transformers.models.gpt_oss.modeling_gpt_oss import apply_rotary_pos_emb

    shape = (*x.shape[:-1], -1, attn.head_dim)
    q = attn.q_proj(x).view(shape).transpose(1, 2)
    k = attn.k_proj(x).view(shape).transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    cos, sin = rope
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    return q, k, v


def _attend(attn, q, k, v, q_pos, k_pos):
    """Causal (and sliding-window) attention with the per-head sink logit, as the eager GptOss attention."""
    import torch
    import torch.nn.functional as F

    groups = attn.num_key_value_groups
    k = k.repeat_interleave(groups, dim=1)
    v = v.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q, k.transpose(2, 3)) * attn.scaling
    allowed = k_pos[None, :] <= q_pos[:, None]
    if attn.sliding_window is not None:
        allowed = allowed & (k_pos[None, :] > q_pos[:, None] - attn.sliding_window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    sinks = attn.sinks.reshape(1, -1, 1, 1).expand(q.shape[0], -1, q.shape[2], 1)
    logits = torch.cat([scores, sinks], dim=-1)
    probs = F.softmax(logits - logits.max(dim=-1, keepdim=True).values, dim=-1)[..., :-1]
    out = torch.matmul(probs, v).transpose(1, 2)
    return out.reshape(*out.shape[:2], -1)


def _attend_suffix(attn, q, k_p, v_p, k_s, v_s, p_len, q_pos):
    """Suffix queries over [shared prefix keys + own causal keys], one softmax with the sink, as `_attend`.

    q: [B, H, K, d] at absolute positions q_pos [B, K]; the suffix keys sit at p_len, p_len + 1, ... The prefix
    keys are shared by the whole batch (one matmul, not a copy per case); a sliding-window layer only reads the
    prefix keys inside its window.
    """
    import torch
    import torch.nn.functional as F

    batch, heads, q_len, head_dim = q.shape
    s_len = k_s.shape[2]
    groups = attn.num_key_value_groups
    window = attn.sliding_window
    start = max(0, p_len - window + 1) if window is not None else 0
    k_p = k_p[0, :, start:].repeat_interleave(groups, dim=0)  # [H, p', d]
    v_p = v_p[0, :, start:].repeat_interleave(groups, dim=0)
    k_s = k_s.repeat_interleave(groups, dim=1)
    v_s = v_s.repeat_interleave(groups, dim=1)
    q_flat = q.permute(1, 0, 2, 3).reshape(heads, batch * q_len, head_dim)
    scores_p = torch.matmul(q_flat, k_p.transpose(1, 2)).view(heads, batch, q_len, -1).permute(1, 0, 2, 3)
    scores_p = scores_p * attn.scaling
    scores_s = torch.matmul(q, k_s.transpose(2, 3)) * attn.scaling
    q_at = q_pos[:, None, :, None]  # [B, 1, K, 1]
    k_at = torch.arange(p_len, p_len + s_len)
    allowed_s = k_at <= q_at
    if window is not None:
        allowed_s = allowed_s & (k_at > q_at - window)
        scores_p = scores_p.masked_fill(~(torch.arange(start, p_len) > q_at - window), float("-inf"))
    scores_s = scores_s.masked_fill(~allowed_s, float("-inf"))
    sinks = attn.sinks.reshape(1, -1, 1, 1).expand(batch, -1, q_len, 1)
    logits = torch.cat([scores_p, scores_s, sinks], dim=-1)
    probs = F.softmax(logits - logits.max(dim=-1, keepdim=True).values, dim=-1)
    p_width = scores_p.shape[-1]
    probs_p, probs_s = probs[..., :p_width], probs[..., p_width:-1]
    out_p = torch.matmul(probs_p.permute(1, 0, 2, 3).reshape(heads, batch * q_len, p_width), v_p)
    out = out_p.view(heads, batch, q_len, head_dim).permute(1, 0, 2, 3) + torch.matmul(probs_s, v_s)
    return out.transpose(1, 2).reshape(batch, q_len, -1)


def _moe(mlp, x):
    """Top-k routed experts, computed densely (4 tiny experts: cheaper than gathering tokens per expert)."""
    import torch
    import torch.nn.functional as F

    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    router, experts = mlp.router, mlp.experts
    logits = F.linear(flat, router.weight, router.bias)
    top_values, top_index = torch.topk(logits, router.top_k, dim=-1)
    weights = torch.zeros_like(logits).scatter(1, top_index, F.softmax(top_values, dim=1))
    gate_up = torch.einsum("nd,edf->nef", flat, experts.gate_up_proj) + experts.gate_up_proj_bias
    gate, up = gate_up[..., ::2], gate_up[..., 1::2]
    gate = gate.clamp(max=experts.limit)
    up = up.clamp(min=-experts.limit, max=experts.limit)
    gated = (up + 1) * (gate * torch.sigmoid(gate * experts.alpha))
    out = torch.einsum("nei,eid->ned", gated, experts.down_proj) + experts.down_proj_bias
    return (out * weights[..., None]).sum(1).reshape(shape)


# ---------------------------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainingReport:
    version: str
    recipe: str  # recipe_hash() when trained
    seed: int
    steps: int
    batch: int
    seconds: float
    first_loss: float
    final_loss: float
    tasks: tuple[str, ...]
    renderers: tuple[str, ...]
    trained_input_rows: int
    trained_output_rows: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Example:
    group: int
    case_ids: list[int]
    completion: list[int]


def _structure_weight(completion: list[int], k: int) -> float:
    """Loss weight of completion token k: the Harmony markers and the token after each weigh STRUCTURE_WEIGHT."""
    if completion[k] >= ORDINARY_TOKENS or (k > 0 and completion[k - 1] >= ORDINARY_TOKENS):
        return STRUCTURE_WEIGHT
    return 1.0


def check_forward(model, group: Group, example: _Example, forward: PrefixForward, atol: float = 1e-4) -> float:
    """Max |difference| between the prefix forward and transformers' own forward on one sequence."""
    import torch

    ids = group.prefix + example.case_ids + group.tail + example.completion
    suffix = torch.tensor([ids[len(group.prefix):]])
    with torch.no_grad():
        ours = forward.hidden(torch.tensor(group.prefix), suffix)[0]
        theirs = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, len(group.prefix):]
    gap = float((ours - theirs).abs().max())
    if gap > atol:
        raise RuntimeError(f"training forward differs from transformers' forward by {gap:.2e}")
    return gap


def train_tiny_model(model, tokenizer_dir, *, seed: int = 0, steps: int = STEPS, batch: int = BATCH,
                     log: Callable[[str], None] | None = None) -> TrainingReport:
    """Train `model` (a GptOssForCausalLM, in place) to answer the tasks' prompts in Harmony; returns a report."""
    import torch
    import torch.nn.functional as F

    from harness.assets import harmony_encoding, offline_assets, tokenizer_template_path

    started = time.perf_counter()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    # One thread: the ops are tiny, and two threads on a busy 2-core machine spin against each other (10x slower).
    torch.set_num_threads(1)
    try:
        encoding = harmony_encoding()

        def encode(text: str) -> list[int]:
            return list(encoding.encode(text, allowed_special="all"))

        tokenizer_dir = Path(tokenizer_dir)
        assets = offline_assets(tokenizer_template_path(tokenizer_dir), tokenizer_dir, None)
        groups: list[Group] = []
        weights: list[float] = []
        for task in TASKS:
            scenario_effort = _scenario(task.scenario).reasoning_effort
            per_group = task.weight / (len(task.prompt_formats) * len(TRAIN_RENDERERS) * len(TRAIN_DATES))
            for fmt in task.prompt_formats:
                for renderer in TRAIN_RENDERERS:
                    for date in TRAIN_DATES:
                        effort = scenario_effort if rng.random() < 0.75 else _pick(rng, EFFORTS)
                        groups.append(build_group(assets, task, renderer, date, effort, encode, fmt))
                        weights.append(per_group)

        completions: dict[str, list[int]] = {}  # a few dozen distinct completions: encode each once

        def sample(group_index: int) -> _Example:
            text, label, reason = groups[group_index].task.make_case(rng)
            completion = completion_text(reason, groups[group_index].task.answer(label, reason))
            if completion not in completions:
                completions[completion] = encode(completion)
            return _Example(group_index, encode(text), list(completions[completion]))

        plan = [rng.choices(range(len(groups)), weights)[0] for _ in range(steps)]
        batches = [[sample(g) for _ in range(batch)] for g in plan]

        used = set()
        outputs = set()
        for g in groups:
            used.update(g.prefix)
            used.update(g.tail)
        for examples in batches:
            for e in examples:
                used.update(e.case_ids)
                used.update(e.completion)
                outputs.update(e.completion)
        pad = int(model.config.pad_token_id)
        used.add(pad)
        in_vocab = torch.tensor(sorted(used))
        # Words the data never uses keep their random rows: a held-out case is full of them. Sprinkle such
        # (frozen) rows into some training cases, so the answer format does not hinge on every word being known.
        unseen = [t for t in range(ORDINARY_TOKENS) if t not in used]
        frozen = sorted(rng.sample(unseen, UNSEEN_TOKENS)) if NOISE_RATE > 0 else []
        for examples in batches:
            for e in examples:
                if rng.random() < NOISE_RATE:
                    for _ in range(rng.randint(1, max(2, len(e.case_ids) // 3))):
                        e.case_ids.insert(rng.randrange(len(e.case_ids) + 1), frozen[rng.randrange(len(frozen))])
        out_vocab = torch.tensor(sorted(outputs))
        out_map = torch.full((model.config.vocab_size,), -1, dtype=torch.long)
        out_map[out_vocab] = torch.arange(len(out_vocab))

        model.train()
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.model.embed_tokens.weight.requires_grad_(False)
        model.lm_head.weight.requires_grad_(False)
        forward = PrefixForward(model, in_vocab, torch.tensor(frozen, dtype=torch.long))
        check_forward(model, groups[0], batches[0][0], forward)
        head = torch.nn.Parameter(model.lm_head.weight.detach()[out_vocab].clone())
        frozen_head = model.lm_head.weight.detach()
        body = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW([{"params": body, "weight_decay": 0.0},
                                       {"params": [forward.embed, head], "weight_decay": 0.0}],
                                      lr=LEARNING_RATE, betas=(0.9, 0.98), foreach=True)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: min(1.0, (k + 1) / 20) * max(0.05, 1 - k / steps))
        generator = torch.Generator().manual_seed(seed)
        losses = []
        for step, examples in enumerate(batches):
            group = groups[examples[0].group]
            rows = [e.case_ids + group.tail + e.completion for e in examples]
            width = max(len(r) for r in rows)
            suffixes = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
            # Positions whose next token is a completion token (completions end each row; pad by repeating).
            span = max(len(e.completion) for e in examples)
            keep, targets, valid, weight = [], [], [], []
            for e, r in zip(examples, rows):
                first = len(r) - len(e.completion) - 1
                keep.append([min(first + k, len(r) - 2) for k in range(span)])
                valid.extend(k < len(e.completion) for k in range(span))
                targets.extend(r[first + 1 + k] if k < len(e.completion) else pad for k in range(span))
                weight.extend(_structure_weight(e.completion, k) for k in range(len(e.completion)))
            hidden = forward.hidden(torch.tensor(group.prefix), suffixes, torch.tensor(keep))
            mask = torch.tensor(valid)
            picked = hidden.reshape(-1, model.config.hidden_size)[mask]
            targets = [t for t, v in zip(targets, valid) if v]
            negatives = torch.randint(0, model.config.vocab_size, (NEGATIVES,), generator=generator)
            negatives = negatives[out_map[negatives] < 0]
            logits = torch.cat([picked @ head.T, picked @ frozen_head[negatives].T], dim=1)
            token_loss = F.cross_entropy(logits, out_map[torch.tensor(targets)], reduction="none")
            weight_t = torch.tensor(weight)
            loss = (token_loss * weight_t).sum() / weight_t.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(body + [forward.embed, head], 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if log and (step % 40 == 0 or step == steps - 1):
                log(f"step {step:4d} loss {losses[-1]:.4f} ({time.perf_counter() - started:.1f}s)")

        with torch.no_grad():  # write the trained rows back into the full tables
            model.model.embed_tokens.weight[in_vocab] = forward.embed.detach()
            model.lm_head.weight[out_vocab] = head.detach()
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
    return TrainingReport(version=TINY_MODEL_VERSION, recipe=recipe_hash(), seed=seed, steps=steps, batch=batch,
                          seconds=round(time.perf_counter() - started, 1), first_loss=round(losses[0], 4),
                          final_loss=round(sum(losses[-10:]) / min(10, len(losses)), 4),
                          tasks=tuple(t.scenario for t in TASKS), renderers=TRAIN_RENDERERS,
                          trained_input_rows=len(in_vocab), trained_output_rows=len(out_vocab))


def recipe_hash() -> str:
    """What the trained weights are a function of: this module's code (data, training loop, answer formats), the
    architecture (`assets.tiny_config`) and the built-in scenarios it learns from (their policies and formats). Any
    change gives another hash, so provisioning retrains and result-store keys change with it."""
    import hashlib

    from harness.assets import tiny_config

    digest = hashlib.sha256(Path(__file__).read_bytes())
    config = {k: v for k, v in tiny_config().to_dict().items() if k != "transformers_version"}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for task in TASKS:
        digest.update(_scenario(task.scenario).fingerprint().encode())
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=16)
def _scenario(name: str):
    from harness.scenario import load_scenario

    return load_scenario(name)


def model_card(report: TrainingReport) -> str:
    """README.md for the model dir: what this model is and is not."""
    return f"""# tiny gpt-oss (offline harness model, {report.version})

Tiny gpt-oss: the real GptOss architecture and o200k Harmony tokenizer, 2 layers, hidden size 64, 4 experts;
random init, then {report.seconds:.0f} seconds of synthetic Harmony training on CPU ({report.steps} steps of
{report.batch} prompts, seed {report.seed}, loss {report.first_loss:.2f} -> {report.final_loss:.3f}).

Training prompts: the policies and label formats of the built-in scenarios ({", ".join(report.tasks)}) over
synthetic case texts (the built-in cases are held out), rendered by {" and ".join(report.renderers)} with
assorted `Current date:` lines. Target completions are short Harmony answers:
`<|channel|>analysis<|message|>reason<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>`.

Its labels show the harness's mechanics (parsing, agreement statistics, render differences that flip an answer),
not the real model's behaviour. Do not read anything about gpt-oss or gpt-oss-safeguard into them.
"""


# ---------------------------------------------------------------------------------------------------------------
# evaluation: greedy Harmony completions on a scenario's (held-out) cases


@dataclass(frozen=True)
class EvalResult:
    renderer: str
    labels: dict[str, str | None]  # case id -> parsed label, None for a parse failure
    finals: dict[str, str]  # case id -> final-channel text
    gold: dict[str, str | None]

    @property
    def parse_rate(self) -> float:
        return sum(v is not None for v in self.labels.values()) / max(1, len(self.labels))

    @property
    def accuracy(self) -> float:
        graded = [c for c, g in self.gold.items() if g is not None]
        return sum(self.labels[c] == self.gold[c] for c in graded) / max(1, len(graded))


def generate(model, prompts: list[list[int]], *, max_new_tokens: int = 48, batch: int = 12) -> list[list[int]]:
    """Greedy completions (cut after the first stop token), left-padded batches as the local backends run them."""
    import torch

    from harness.render.parser import ENDOFTEXT, STOP_IDS

    stops, pad = STOP_IDS, ENDOFTEXT
    outputs = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=list(stops), pad_token_id=pad, temperature=None, top_p=None, top_k=None)
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            outputs.append(row[:cut])
    return outputs


def evaluate(model, assets: Assets, scenario_name: str = "spam", *, renderers=RENDERERS,
             date: str = "2026-01-15", max_new_tokens: int = 48) -> dict[str, EvalResult]:
    """Render each case of a built-in scenario, generate greedily, parse the Harmony completion and the label."""
    from harness.render import get_renderer
    from harness.render.parser import parse_tokens

    scenario = _scenario(scenario_name)
    parser = scenario.label_parser()
    results = {}
    for name in renderers:
        renderer = get_renderer(name, assets)
        prompts = [renderer.render(scenario.request_for(case), date=date) for case in scenario.cases]
        labels, finals = {}, {}
        for case, completion in zip(scenario.cases, generate(model, prompts, max_new_tokens=max_new_tokens)):
            messages = parse_tokens(completion, completion=True).messages
            final = "".join(m.content for m in messages if m.channel == "final")
            parsed = parser.parse(final) if any(m.channel == "final" for m in messages) else None
            labels[case.id] = parsed.label if parsed is not None and parsed.ok else None
            finals[case.id] = final
        results[name] = EvalResult(name, labels, finals, {c.id: c.gold for c in scenario.cases})
    return results
